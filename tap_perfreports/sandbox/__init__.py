"""The sandbox: the five vendor APIs emulated over deterministic data (see server.py)."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from tap_perfreports.sandbox.emulator import Emulator
    from tap_perfreports.sandbox.restatement import Restatements


def build_emulators(restatements: Restatements) -> dict[str, Emulator]:
    """One emulator per vendor, keyed by the vendor's config key (its URL prefix), all
    following the same restatements."""
    from tap_perfreports.sandbox.adobe_target import AdobeTargetEmulator
    from tap_perfreports.sandbox.citygrid import CityGridEmulator
    from tap_perfreports.sandbox.infinity import InfinityEmulator
    from tap_perfreports.sandbox.mintegral import MintegralEmulator
    from tap_perfreports.sandbox.plumvoice import PlumVoiceEmulator

    emulators: list[Emulator] = [
        InfinityEmulator(restatements),
        PlumVoiceEmulator(restatements=restatements),
        AdobeTargetEmulator(restatements),
        CityGridEmulator(restatements),
        MintegralEmulator(restatements),
    ]
    return {emulator.key: emulator for emulator in emulators}


def tap_settings(vendor: str) -> dict[str, t.Any]:
    """What fills the tap's `vendor` object in sandbox mode (the sandbox's own logins),
    without starting a server: the sandbox owns its credentials, the vendors know none."""
    from tap_perfreports.sandbox import adobe_target, citygrid, infinity, mintegral, plumvoice

    emulators = (
        adobe_target.AdobeTargetEmulator,
        citygrid.CityGridEmulator,
        infinity.InfinityEmulator,
        mintegral.MintegralEmulator,
        plumvoice.PlumVoiceEmulator,
    )
    return dict(next(each.tap_settings for each in emulators if each.key == vendor))
