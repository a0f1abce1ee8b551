"""`tap-perfreports-sandbox --scale N`: N times the phones, publisher codes and campaigns,
each with data, and nothing beyond them (benchmarks rely on it)."""

from __future__ import annotations

import pytest
import requests

from tap_perfreports.sandbox import adobe_target, citygrid, plumvoice

SCALE = 3


@pytest.fixture
def scaled(sandbox):
    for emulator in sandbox.emulators.values():
        if hasattr(emulator, "scale"):
            emulator.scale = SCALE
    return sandbox


def test_plumvoice_phones_grow_with_the_scale(scaled):
    numbers = plumvoice.phones(SCALE)
    assert len(set(numbers)) == SCALE * len(plumvoice.PHONES)
    assert numbers[: len(plumvoice.PHONES)] == plumvoice.PHONES

    def calls(phone: str) -> requests.Response:
        return requests.get(
            f"{scaled.url('plumvoice')}/performance/20260101/20260107/day/{phone}",
            auth=(plumvoice.USERNAME, plumvoice.PASSWORD),
            timeout=10,
        )

    assert len(calls(numbers[-1]).json()["calls"]) == 7
    assert calls(str(int(numbers[-1]) + 1)).status_code == 400


def test_citygrid_codes_grow_with_the_scale(scaled):
    codes = citygrid.placements(SCALE)
    assert len(codes) == SCALE * len(citygrid.PLACEMENTS)

    def report(code: str | None) -> requests.Response:
        return requests.get(
            f"{scaled.url('citygrid')}/ads/performance/v2/daily",
            params={"publisher_code": code, "report_time": "last30Days"},  # None: left out
            headers={"Accept": "application/json"},
            auth=(citygrid.USERNAME, citygrid.PASSWORD),
            timeout=10,
        )

    last = list(codes)[-1]
    assert report(last).json()["daily_results"]
    assert report("pub_99999").status_code == 403
    listed = report(None).json()["publisher_codes"]  # no code: every code of the login
    assert listed == list(codes)


def test_adobe_campaigns_grow_with_the_scale(scaled):
    campaigns = adobe_target.campaigns(SCALE)
    assert len(set(campaigns)) == SCALE * len(adobe_target.CAMPAIGNS)

    def report(campaign: int) -> bytes:
        return requests.get(
            scaled.url("adobe_target"),
            params={
                "client": adobe_target.CLIENT,
                "email": adobe_target.EMAIL,
                "password": adobe_target.PASSWORD,
                "operation": "report",
                "version": "2",
                "campaignId": str(campaign),
                "start": "2026-01-01T00:00",
                "end": "2026-01-07T23:59",
                "type": "visit",
            },
            timeout=10,
        ).content

    assert b"<sample " in report(campaigns[-1])
    assert b"<code>404</code>" in report(max(campaigns) + 1)
