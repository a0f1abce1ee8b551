"""One module per vendor API; each exposes `VENDOR`."""

from __future__ import annotations

from tap_perfreports.vendors import adobe_target, citygrid, infinity, mintegral, plumvoice

VENDORS = (
    infinity.VENDOR,
    plumvoice.VENDOR,
    adobe_target.VENDOR,
    citygrid.VENDOR,
    mintegral.VENDOR,
)
