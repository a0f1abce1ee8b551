"""Running the real tap against a sandbox and reading what it emitted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import typing as t
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VENDOR_DOCS = REPO.parent / "shared" / "vendor-docs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def known_secrets(config: t.Mapping[str, t.Any] | None = None) -> set[str]:
    """Every credential a test run may hold: all sandbox logins, and the config's secrets."""
    from tap_perfreports.sandbox import tap_settings
    from tap_perfreports.vendors import VENDORS

    found = set()
    for vendor in VENDORS:
        settings = (config or {}).get(vendor.key)
        settings = settings if isinstance(settings, dict) else {}
        for name in vendor.secrets:
            for source in (tap_settings(vendor.key), settings):
                if source.get(name):
                    found.add(str(source[name]))
    return found


def assert_no_secret(text: str, secrets: t.Iterable[str]) -> None:
    """Fail if any secret, plain or URL-encoded, appears in `text` (without printing it)."""
    from urllib.parse import quote, quote_plus

    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form in text:
                raise AssertionError(
                    f"a credential ({len(secret)} characters, starting {secret[:2]!r}) "
                    "appeared in captured output"
                )


@dataclass
class TapRun:
    """One finished `tap-perfreports` process: its exit code, messages and log."""

    returncode: int
    messages: list[dict]
    stderr: str
    stdout: str

    def records(self, stream: str) -> list[dict]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def schema(self, stream: str) -> dict:
        return next(m for m in self.messages if m["type"] == "SCHEMA" and m["stream"] == stream)

    @property
    def streams(self) -> set[str]:
        return {m["stream"] for m in self.messages if m["type"] == "RECORD"}

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def state(self) -> dict:
        """The last STATE the tap emitted (what Meltano would store)."""
        return self.states[-1] if self.states else {}

    def bookmarks(self, stream: str) -> dict[str, str]:
        """Partition context (as JSON text) -> bookmark, from the last state."""
        entry = self.state.get("bookmarks", {}).get(stream, {})
        return {
            json.dumps(p["context"], sort_keys=True): p.get("replication_key_value")
            for p in entry.get("partitions", [])
        }

    def reported_record_counts(self) -> dict[str, int]:
        """Records per stream as the SDK's `record_count` metrics in the log report them."""
        counts: dict[str, int] = {}
        for match in _RECORD_COUNT.finditer(self.stderr):
            metric = json.loads(match.group(1))
            stream = metric["tags"]["stream"]
            counts[stream] = counts.get(stream, 0) + int(metric["value"])
        return counts

    def written_record_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.messages:
            if message["type"] == "RECORD":
                counts[message["stream"]] = counts.get(message["stream"], 0) + 1
        return counts

    def landed_verdict_count(self) -> int:
        """Verdict records the report streams say they landed (their summary lines)."""
        return sum(int(n) for n in _VERDICTS_LANDED.findall(self.stderr))

    @property
    def last_log_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


VERDICT_STREAM = "perfreports_reconciliation"
_VERDICTS_LANDED = re.compile(r"(\d+) verdict\(s\) landed in perfreports_reconciliation")
_RECORD_COUNT = re.compile(r'METRIC: (\{"type":"counter","metric":"record_count".*\})$', re.M)


def run_tap(
    config: dict,
    *,
    state: dict | None = None,
    args: t.Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> TapRun:
    """Run the tap's console entry point in a subprocess, as Meltano would.

    Every run is also checked for what no test may ever see: a credential in its output,
    a ResourceWarning, and (when it succeeded in record mode without stream maps) a
    record the SDK counted that never reached stdout.
    """
    env = {"PYTHONWARNINGS": "always::ResourceWarning", **(os.environ if env is None else env)}
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder, "config.json")
        config_path.write_text(json.dumps(config))
        command = [sys.executable, "-m", "tap_perfreports", "--config", str(config_path)]
        if state is not None:
            state_path = Path(folder, "state.json")
            state_path.write_text(json.dumps(state))
            command += ["--state", str(state_path)]
        command += list(args)
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    assert_no_secret(done.stdout + done.stderr, known_secrets(config))
    assert "ResourceWarning" not in done.stderr, done.stderr[-3000:]
    messages = []
    if "--discover" not in args and "--about" not in args:  # those print one JSON document
        messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    run = TapRun(done.returncode, messages, done.stderr, done.stdout)
    if run.returncode == 0 and not config.get("batch_config") and not config.get("stream_maps"):
        reported = run.reported_record_counts()
        landed = run.landed_verdict_count()
        if landed:  # written by the report streams, not counted by the SDK's metric
            reported[VERDICT_STREAM] = reported.get(VERDICT_STREAM, 0) + landed
        written = run.written_record_counts()
        lost = {s: n - written.get(s, 0) for s, n in reported.items() if written.get(s, 0) != n}
        assert not lost, f"records counted but not written (stream: missing): {lost}"
    return run


def expand_batches(run: TapRun) -> TapRun:
    """The run as a target sees it: each BATCH message replaced by the RECORD messages in
    its files (jsonl, optionally gzip), in place, so STATE order can be judged."""
    import gzip
    from urllib.parse import urlsplit

    messages: list[dict] = []
    for message in run.messages:
        if message["type"] != "BATCH":
            messages.append(message)
            continue
        for url in message["manifest"]:
            path = Path(urlsplit(url).path)
            opener = gzip.open if message["encoding"].get("compression") == "gzip" else open
            with opener(path, "rt") as lines:
                messages.extend(
                    {"type": "RECORD", "stream": message["stream"], "record": json.loads(line)}
                    for line in lines
                    if line.strip()
                )
    return TapRun(run.returncode, messages, run.stderr, run.stdout)


def single_stream_catalog(config: dict, streams: t.Collection[str], folder: Path) -> list[str]:
    """CLI arguments that select only `streams`, from the tap's own discovered catalog."""
    discovered = run_tap(config, args=["--discover"])
    assert discovered.returncode == 0, discovered.stderr[-2000:]
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    path = folder / "catalog.json"
    path.write_text(json.dumps(catalog))
    return ["--catalog", str(path)]


def without_times(messages: list[dict]) -> list[dict]:
    """Singer messages minus the times that differ between runs: when records were
    extracted, and the SDK's signpost (the run's start) in STATE."""
    kept = []
    for message in messages:
        copy = {k: v for k, v in message.items() if k != "time_extracted"}
        for entry in copy.get("value", {}).get("bookmarks", {}).values():
            entry.pop("replication_key_signpost", None)
        kept.append(copy)
    return kept


def sandbox_config(
    server: t.Any, vendor: str, start: str, end: str, **settings: t.Any
) -> dict[str, t.Any]:
    """Config extracting one vendor from a test's own sandbox server."""
    return {
        "sandbox": True,
        "start_date": start,
        "end_date": end,
        vendor: {"api_url": server.url(vendor), **settings},
    }


def doc_text(name: str) -> str:
    """A vendor's documentation page, as shipped in ../shared/vendor-docs, for the checks
    that each fixture occurs in it verbatim (the parsers are tested on the fixtures). A
    clone without the pages skips those checks and says why; CI (`CI` set) requires them."""
    path = VENDOR_DOCS / name
    if not path.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI checks every fixture against the vendor pages")
        pytest.skip(f"{path} is not beside this clone: the fixture's verbatim check needs it")
    return path.read_text()


def fixture_bytes(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()
