"""Infinity's paging rules as pure functions: batches by rowId, pages by offset inside them.

`serve` stands in for the API: rows sorted by rowId, the greater-than filter, and a limit
on rows pulled by offset that refuses (or, like a silent limit, stops serving). The tap's
`Paging` decides every request from what the previous one brought, as the stream does.
"""

from __future__ import annotations

import pytest

from tap_perfreports.errors import ConfigError, ParseError
from tap_perfreports.vendors import infinity
from tap_perfreports.vendors.infinity import OffsetLimitReached, Page, Paging, next_row_id

pytestmark = pytest.mark.unit


class Refused(Exception):
    pass


def serve(
    row_ids: list[int], page: Page, offset_limit: int = 50_000, *, silent: bool = False
) -> list[int]:
    """What the API answers to `page`; past `offset_limit` rows by offset it refuses, or
    with `silent` serves only the rows before the limit."""
    rows = [r for r in row_ids if page.after is None or r > page.after]
    end = page.offset + page.limit
    if min(end, len(rows)) > offset_limit:
        if not silent:
            raise Refused(f"{page} pulls past {offset_limit} rows")
        end = offset_limit
    return rows[page.offset : end]


def read_all(
    paging: Paging, row_ids: list[int], offset_limit: int = 50_000, *, silent: bool = False
) -> tuple[list[int], list[Page]]:
    """Every row the tap reads, and the pages it asks for, as `InfinityStream.pages`."""
    landed: list[int] = []
    asked: list[Page] = []
    page: Page | None = paging.first()
    last = None
    while page is not None:
        asked.append(page)
        rows = serve(row_ids, page, offset_limit, silent=silent)
        for row_id in rows:
            last = next_row_id(row_id, last)
        landed += rows
        page = paging.after(page, len(rows), last)
    return landed, asked


def row_ids(count: int) -> list[int]:
    """rowIds with gaps, as an installation's are (other installations' rows between)."""
    return [10_000_000_000 + 3 * n + n % 2 for n in range(count)]


EVENTS = Paging(page_size=10_000, batch_size=50_000, by_row_id=True)


def test_a_window_of_123456_events_is_read_whole_in_batches_of_50000():
    rows = row_ids(123_456)
    landed, asked = read_all(EVENTS, rows)
    assert landed == rows
    # 5 pages per batch, the next batch after the 50,000th and 100,000th rowId, then 3
    # more pages: 13 full pages and one short one, as with offset paging alone
    assert [(p.after, p.offset, p.limit) for p in asked] == [
        *[(None, offset, 10_000) for offset in range(0, 50_000, 10_000)],
        *[(rows[49_999], offset, 10_000) for offset in range(0, 50_000, 10_000)],
        *[(rows[99_999], offset, 10_000) for offset in range(0, 30_000, 10_000)],
    ]
    assert all(p.offset + p.limit <= 50_000 for p in asked)


def test_offset_paging_alone_would_be_refused_past_50000_rows():
    offset_only = Paging(page_size=10_000, batch_size=10**9, by_row_id=True)
    with pytest.raises(Refused, match="pulls past 50000 rows"):
        read_all(offset_only, row_ids(60_000))


def test_a_batch_ends_where_its_rows_end_and_the_last_one_is_confirmed_empty():
    rows = row_ids(50_000)
    landed, asked = read_all(EVENTS, rows)
    assert landed == rows
    assert asked[-1] == Page(rows[-1], 0, 10_000)  # the next batch: empty, so the end
    assert len(asked) == 6


def test_a_short_page_ends_the_window_without_another_request():
    rows = row_ids(12_345)
    landed, asked = read_all(EVENTS, rows)
    assert landed == rows
    assert [(p.after, p.offset) for p in asked] == [(None, 0), (None, 10_000)]


def test_an_empty_page_after_full_ones_is_checked_by_row_id_once():
    rows = row_ids(20_000)
    landed, asked = read_all(EVENTS, rows)
    assert landed == rows
    assert asked[-1] == Page(rows[-1], 0, 10_000, checks_cut=True)
    assert len(asked) == 4


def test_an_offset_limit_below_the_batch_that_answers_empty_pages_loses_nothing():
    """If the real limit were 20,000 and it cut silently, the check pages on by rowId."""
    rows = row_ids(47_000)
    landed, asked = read_all(EVENTS, rows, offset_limit=20_000, silent=True)
    assert landed == rows
    cut_checks = [p for p in asked if p.checks_cut]
    assert [p.after for p in cut_checks] == [rows[19_999], rows[39_999]]


def test_a_batch_size_that_is_not_a_multiple_of_the_page_size():
    paging = Paging(page_size=10_000, batch_size=25_000, by_row_id=True)
    rows = row_ids(60_001)
    landed, asked = read_all(paging, rows, offset_limit=25_000)
    assert landed == rows
    assert [p.limit for p in asked[:4]] == [10_000, 10_000, 5_000, 10_000]
    assert asked[3].after == rows[24_999]


def test_an_empty_window_costs_one_request():
    landed, asked = read_all(EVENTS, [])
    assert (landed, asked) == ([], [Page(None, 0, 10_000)])


def test_aggregate_rows_page_by_offset_and_stop_at_the_batch_instead_of_going_past():
    metrics = Paging(page_size=2, batch_size=5, by_row_id=False)
    page = metrics.first()
    page = metrics.after(page, 2, None)
    assert page == Page(None, 2, 2)
    page = metrics.after(page, 2, None)
    assert page == Page(None, 4, 1)  # never asks past the batch
    with pytest.raises(OffsetLimitReached):
        metrics.after(page, 1, None)  # full to the batch: more rows may exist
    assert metrics.after(Page(None, 2, 2), 1, None) is None  # a short page: all of them


def test_rows_out_of_row_id_order_are_an_error_not_a_skip():
    assert next_row_id(5, 4) == 5
    assert next_row_id(5, None) == 5
    with pytest.raises(ParseError, match="rowId 4 came after rowId 5"):
        next_row_id(4, 5)
    with pytest.raises(ParseError, match="rowId 5 came after rowId 5"):
        next_row_id(5, 5)


@pytest.mark.parametrize(
    ("settings", "setting", "rule"),
    [
        ({"batch_size": 50_001}, "infinity.batch_size", "between 1 and 50000"),
        ({"batch_size": 0}, "infinity.batch_size", "between 1 and 50000"),
        ({"row_id_operand": "g t"}, "infinity.row_id_operand", "operand code"),
        (
            {"reports": [{"name": "calls", "route": "triggers/calls", "sort": ["act-desc"]}]},
            "infinity.reports[calls].sort",
            "sorted by rowId only",
        ),
    ],
)
def test_paging_settings_are_checked(settings, setting, rule):
    with pytest.raises(ConfigError, match=rule) as raised:
        infinity.validate({"username": "u", "password": "p", **settings})
    assert raised.value.setting == setting


def test_an_aggregate_report_keeps_its_own_sort():
    report = infinity.InfinityReport(
        {"name": "m", "route": "metrics/channels", "group": ["ch"], "sort": ["ch-desc"]}
    )
    assert [v for k, v in report.query() if k == "sort[]"] == ["ch-desc"]
    infinity.validate(
        {
            "username": "u",
            "password": "p",
            "reports": [
                {"name": "m", "route": "metrics/channels", "display": ["ch"], "sort": ["ch-desc"]}
            ],
        }
    )
