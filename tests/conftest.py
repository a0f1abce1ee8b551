"""Fixtures shared by every test: an in-process sandbox server per test."""

from __future__ import annotations

import typing as t

import pytest

from tap_perfreports.sandbox.server import SandboxServer, start_sandbox
from tests.helpers import assert_no_secret, known_secrets


@pytest.fixture
def sandbox() -> t.Iterator[SandboxServer]:
    """A fresh sandbox (empty ledger, no faults) on a free loopback port."""
    server = start_sandbox()
    try:
        yield server
    finally:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> t.Iterator[None]:
    """Fail any test whose captured output or failure report holds a sandbox credential."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    captured = "\n".join(content for _, content in report.sections)
    captured += report.longreprtext or ""
    try:
        assert_no_secret(captured, known_secrets())
    except AssertionError as leak:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: {leak}"


def pytest_terminal_summary(terminalreporter: t.Any) -> None:
    """Print the reliability table (faults, runs, rows lost or duplicated, secret hits)."""
    from tests import reliability_table

    table = reliability_table.render()
    if table:
        terminalreporter.section("reliability")
        terminalreporter.write_line(table)
