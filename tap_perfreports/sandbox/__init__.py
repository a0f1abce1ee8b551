"""The sandbox: the five vendor APIs emulated over deterministic data (see server.py)."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from tap_perfreports.sandbox.emulator import Emulator


def build_emulators() -> dict[str, Emulator]:
    """One emulator per vendor, keyed by the vendor's config key (its URL prefix)."""
    from tap_perfreports.sandbox.adobe_target import AdobeTargetEmulator
    from tap_perfreports.sandbox.citygrid import CityGridEmulator
    from tap_perfreports.sandbox.infinity import InfinityEmulator
    from tap_perfreports.sandbox.mintegral import MintegralEmulator
    from tap_perfreports.sandbox.plumvoice import PlumVoiceEmulator

    emulators: list[Emulator] = [
        InfinityEmulator(),
        PlumVoiceEmulator(),
        AdobeTargetEmulator(),
        CityGridEmulator(),
        MintegralEmulator(),
    ]
    return {emulator.key: emulator for emulator in emulators}
