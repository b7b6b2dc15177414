"""``salon import``'s checks: every bad row is named by file and line (no I/O)."""

from __future__ import annotations

import io

import pytest

from server.engagement.importer import (
    ImportProblem,
    Progress,
    parse_members,
    parse_orders,
    parse_time,
)
from server.engagement.members import Tier

NOW = 1_750_000_000_000


def test_members_file() -> None:
    rows = parse_members(
        "member_id,name,tier,pinned,since\n"
        "ann,Ann Lee,core,yes,2024-01-02\n"
        "\n"
        "bob,,,,\n"
        'cy,"Cy, the third",active,no,2024-03-01T10:00:00+02:00\n'
    )
    assert [(r.line, r.member_id, r.name, r.tier, r.pinned) for r in rows] == [
        (2, "ann", "Ann Lee", Tier.CORE, True),
        (4, "bob", None, None, False),
        (5, "cy", "Cy, the third", Tier.ACTIVE, False),
    ]
    assert rows[0].since_ms == parse_time("2024-01-02T00:00:00Z")
    assert rows[2].since_ms == parse_time("2024-03-01T08:00:00Z")


def test_orders_file() -> None:
    rows = parse_orders(
        "order_id,member_id,amount,currency,ordered_at,room_id\n"
        "A-1,ann,129.9,EUR,2024-05-01T14:30:00Z,\n"
        "A-2,ann,15,USD,2024-05-03,vip\n",
        NOW,
    )
    assert [(r.line, r.order_id, r.data["amount"], r.room_id) for r in rows] == [
        (2, "A-1", "129.90", ""),
        (3, "A-2", "15.00", "vip"),
    ]
    event = rows[0].event()
    assert event.kind == "purchase" and event.ts_ms == parse_time("2024-05-01T14:30:00Z")
    # The same order always makes the same event id: importing twice is harmless.
    assert event.id == rows[0].event().id and event.id != rows[1].event().id


MEMBERS_HEADER = "member_id,name,tier\n"
ORDERS_HEADER = "order_id,member_id,amount,currency,ordered_at\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "members.csv: the file is empty"),
        ("name\nAnn\n", "members.csv line 1: the column 'member_id' is missing"),
        ("member_id,email\nann,a@b\n", "line 1: unknown column 'email'"),
        ("member_id,name,name\n", "line 1: a column appears twice"),
        (MEMBERS_HEADER + "ann,Ann,core\nbad id,B,core\n", "line 3: member_id 'bad id' must be"),
        (MEMBERS_HEADER + "ann,Ann,gold\n", "line 2: tier 'gold' must be one of"),
        (MEMBERS_HEADER + "ann,Ann\n", "line 2: 2 fields, but the header has 3"),
        (
            MEMBERS_HEADER + "ann,A,core\nbob,B,core\nann,A,core\n",
            "line 4: member 'ann' is already on line 2",
        ),
        ("member_id,pinned\nann,maybe\n", "line 2: pinned 'maybe' must be yes or no"),
        ("member_id,pinned\nann,yes\n", "line 2: a pinned member needs a tier"),
        ("member_id,since\nann,last week\n", "line 2: since 'last week' is not an ISO date"),
        (MEMBERS_HEADER + "ann," + "x" * 81 + ",core\n", "line 2: 'name' must be at most 80"),
        # Issue 9: imported names skipped the text rules (bidi overrides, controls).
        (MEMBERS_HEADER + "ann,Ann\u202eeL,core\n", r"line 2: 'name' holds a bidi.*U\+202E"),
        (MEMBERS_HEADER + "ann,A\x00nn,core\n", r"line 2: 'name' holds a control.*U\+0000"),
        (MEMBERS_HEADER + 'ann,"unclosed,core\n', "line"),
    ],
)
def test_a_bad_members_row_is_named(text: str, message: str) -> None:
    with pytest.raises(ImportProblem, match=message):
        parse_members(text)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("A-1,ann,0,EUR,2024-05-01", "line 2: amount '0' must be above 0"),
        ("A-1,ann,12.345,EUR,2024-05-01", "line 2: amount '12.345' must be a positive decimal"),
        ("A-1,ann,12,euro,2024-05-01", "line 2: currency 'euro' must be an ISO 4217 code"),
        ("A 1,ann,12,EUR,2024-05-01", "line 2: order_id must be 1-128 printable characters"),
        ("A-1,ann,12,EUR,yesterday", "line 2: ordered_at 'yesterday' is not an ISO date"),
        ("A-1,ann,12,EUR,2099-01-01", "line 2: ordered_at '2099-01-01' is in the future"),
        ("A-1,a b,12,EUR,2024-05-01", "line 2: member_id 'a b' is not a valid member id"),
        (
            "A-1,ann,12,EUR,2024-05-01\nA-1,bob,3,EUR,2024-05-02",
            "line 3: order 'A-1' is already on line 2",
        ),
    ],
)
def test_a_bad_order_row_is_named(row: str, message: str) -> None:
    with pytest.raises(ImportProblem, match=message):
        parse_orders(ORDERS_HEADER + row + "\n", NOW)


def test_progress_prints_tenths_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    bar = Progress("orders", 20, out)
    for _ in range(20):
        bar.advance(1)
    lines = out.getvalue().splitlines()
    assert lines[0] == "orders: 1/20" and lines[-1] == "orders: 20/20" and len(lines) == 11
