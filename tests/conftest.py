"""Fixtures shared by every test: an in-process sandbox server per test."""

from __future__ import annotations

import typing as t

import pytest

from tap_perfreports.sandbox.server import SandboxServer, start_sandbox


@pytest.fixture
def sandbox() -> t.Iterator[SandboxServer]:
    """A fresh sandbox (empty ledger, no faults) on a free loopback port."""
    server = start_sandbox()
    try:
        yield server
    finally:
        server.stop()
