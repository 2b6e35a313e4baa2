"""A posted event is checked by the rules a file row meets: what ``check_event`` accepts,
the reader accepts as the same event (so a logged event is never rejected by the fold), and
what the reader rejects, ``check_event`` rejects with the same reason."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopscale.engine.local.reader import read_events
from shopscale.events import EventsParams, check_event

PARAMS = EventsParams(actions=("viewed", "purchased"), rename_actions={"pv": "viewed"})
FIRST = {"user_id": "u", "action": "viewed", "item_id": "i", "timestamp": 1_700_000_000}
"""A valid first line: the reader then reads the file as timed, like the model."""

ids = st.one_of(
    st.sampled_from(["u1", " u1 ", "", "   ", "\t", "\u00a0", "a\x01", "42", "ü", 'q"q']),
    st.floats(-5, 5),
    st.integers(-5, 10**6),
    st.none(),
)
times = st.one_of(
    st.integers(0, 2_000_000_000),
    st.floats(1.6e9, 1.8e9),
    st.sampled_from([1_700_000_000_000, 1_700_000_000_000_000, 1.5]),
    st.sampled_from(
        [
            "1700000000",
            "1700000000.7",
            " 1700000000 ",
            "2026-12-01",
            "2026-12-01T10:00:00Z",
            "2026-12-01 10:00:00",
            "",
            "soon",
            "12:00",
        ]
    ),
    st.none(),
)
records = st.fixed_dictionaries(
    {"user_id": ids, "item_id": ids},
    optional={
        "action": st.sampled_from(["viewed", "purchased", "pv", "bought", " viewed", ""]),
        "timestamp": times,
    },
)


def _reader(tmp: Path, rows: list[object]) -> dict[int, tuple]:
    """Per index: ("ok", user, action, item, t) or ("bad", reason), as the reader sees it."""
    path = tmp / "posted.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [FIRST, *rows]), encoding="utf-8")
    con = duckdb.connect()
    report = read_events(con, [path], PARAMS)
    out: dict[int, tuple] = {line - 2: ("bad", reason) for _, line, reason, _ in report.rejects}
    good = con.sql("SELECT user_id, action, item_id, t FROM events").fetchall()[1:]
    k = 0
    for index in range(len(rows)):
        if index not in out:
            out[index] = ("ok", *good[k])
            k += 1
    con.close()
    return out


def _mine(record: object) -> tuple:
    event, reason = check_event(record, PARAMS, timed=True)
    if event is None:
        return ("bad", reason)
    user, action, item, t = event
    return ("ok", user, PARAMS.rename_actions.get(action, action), item, t)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(records, min_size=1, max_size=25))
def test_posted_events_agree_with_the_reader(tmp_path: Path, rows: list[dict]) -> None:
    """Accepted by check_event implies accepted by the reader as the same event (a logged
    event is never rejected by the fold); rejected by the reader implies rejected."""
    theirs = _reader(tmp_path, rows)
    for index, record in enumerate(rows):
        mine = _mine(record)
        if mine[0] == "ok":
            assert theirs[index] == mine, record
        if theirs[index][0] == "bad":
            assert mine[0] == "bad", (record, theirs[index])


COMMON = [
    {"user_id": "", "action": "viewed", "item_id": "i", "timestamp": 1_700_000_000},
    {"user_id": "u", "action": "viewed", "item_id": "x" * 300, "timestamp": 1_700_000_000},
    {"user_id": "u", "action": "viewed", "item_id": True, "timestamp": 1_700_000_000},
    {"user_id": "u", "action": "viewed", "item_id": 1.5, "timestamp": 1_700_000_000},
    {"user_id": "u\x01", "action": "viewed", "item_id": "i", "timestamp": 1_700_000_000},
    {"user_id": "u", "action": "bought", "item_id": "i", "timestamp": 1_700_000_000},
    {"user_id": "u", "action": "viewed", "item_id": "i", "timestamp": ""},
    {"user_id": "u", "action": "viewed", "item_id": "i", "timestamp": "soon"},
    {"user_id": "u", "action": "viewed", "item_id": "i", "timestamp": 5},
    {"user_id": "u", "action": "viewed", "item_id": "i", "timestamp": 1_700_000_000_000},
    {"user_id": "u", "action": "viewed", "item_id": "i", "timestamp": 4_000_000_000},
    "not an object",
]


def test_common_rejects_have_the_readers_reasons(tmp_path: Path) -> None:
    """Empty and overlong ids, JSON types, control characters, unknown actions, and missing,
    unparsable, early, millisecond and future times get the reader's own reasons."""
    theirs = _reader(tmp_path, COMMON)
    for index, record in enumerate(COMMON):
        assert theirs[index][0] == "bad", record
        assert _mine(record) == theirs[index], record


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (
            {"user_id": True, "action": "viewed", "item_id": "i", "timestamp": 1},
            "user_id is a JSON boolean, not an id",
        ),
        (
            {"user_id": "u", "action": "viewed", "item_id": [1], "timestamp": 1},
            "item_id is a JSON array, not an id",
        ),
        (
            {"user_id": "u\x01", "action": "viewed", "item_id": "i", "timestamp": 1},
            "user_id contains control character U+0001",
        ),
        (
            {"user_id": "u", "action": "viewed", "item_id": "i", "timestamp": 10**30},
            "timestamp '1000000000000000000000000000000' is out of range",
        ),
    ],
)
def test_stricter_than_a_file_where_a_file_would_guess(record: dict, reason: str) -> None:
    """Booleans, arrays, objects and fractions are no ids, control characters are refused,
    and a time must fit 64 bits."""
    assert check_event(record, PARAMS, timed=True) == (None, reason)


def test_untimed_models_take_no_timestamp() -> None:
    """For a model whose times are file order, an event carries no timestamp."""
    event = {"user_id": "u", "action": "pv", "item_id": "i"}
    assert check_event(event, PARAMS, timed=False) == (("u", "pv", "i", None), None)
    _, reason = check_event({**event, "timestamp": 5}, PARAMS, timed=False)
    assert reason == "the model's times are file order: events carry no timestamp"
