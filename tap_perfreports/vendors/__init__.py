"""One module per vendor API; each exposes `VENDOR`."""

from __future__ import annotations

from tap_perfreports.vendors import infinity, plumvoice

VENDORS = (infinity.VENDOR, plumvoice.VENDOR)
