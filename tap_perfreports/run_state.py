"""What the streams of one run share: the STATE cadence and failures held until the end."""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass, field

from tap_perfreports.errors import RequestFailed


@dataclass
class RunState:
    """Created by the tap for each run and handed to every stream (`VendorConfig.run`)."""

    #: RECORD messages written since the last STATE message (`ReportStream.checkpoint`).
    records_since_state: int = 0
    #: When the last STATE message was written (time.monotonic()).
    state_written_at: float = field(default_factory=time.monotonic)
    #: Failures that must fail the run, but only after every other stream has synced.
    deferred_failures: list[str] = field(default_factory=list)
    #: Writes verdict records now and says how many (`verdicts.ReconciliationStream.land`:
    #: none when the stream is deselected); None: the run has no such stream.
    land_verdicts: t.Callable[[list[dict[str, t.Any]]], int] | None = None
    #: Called once after the run's last stream, before deferred failures are raised.
    end_of_run: list[t.Callable[[], None]] = field(default_factory=list)

    def state_written(self) -> None:
        self.records_since_state = 0
        self.state_written_at = time.monotonic()

    def defer_failure(self, message: str) -> None:
        """Fail the run at its end with `message`: one vendor's partial refusal (a code
        without access) must not keep the other vendors' streams from syncing."""
        self.deferred_failures.append(message)

    def at_end(self, callback: t.Callable[[], None]) -> None:
        """Call `callback` after the run's last stream (a vendor's summary): its lines are
        then the run's last, whichever stream syncs last."""
        self.end_of_run.append(callback)

    def finish(self) -> None:
        """Called once, by the run's last selected stream after it synced: the end-of-run
        callbacks, then the failures deferred until every stream had its turn."""
        callbacks, self.end_of_run = self.end_of_run, []
        for callback in callbacks:
            callback()
        self.raise_deferred_failures()

    def raise_deferred_failures(self) -> None:
        """Called after the last stream has synced (`finish`)."""
        if self.deferred_failures:
            raise RequestFailed(" | ".join(self.deferred_failures))
