"""Reading and validation: every row is accepted or rejected with its file, line and reason."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopscale.engine.local.reader import read_events
from shopscale.errors import InputError
from shopscale.events import EventsParams


def _read(paths: list[Path], params: EventsParams | None = None):  # type: ignore[no-untyped-def]
    """Read files into a fresh DuckDB; return the report and the accepted rows."""
    con = duckdb.connect()
    report = read_events(con, paths, params or EventsParams())
    rows = con.execute("SELECT user_id, action, item_id, t FROM events ORDER BY rowid").fetchall()
    return report, rows


def test_broken_csv_rejects_name_line_and_reason(data_dir: Path) -> None:
    """Each bad row of a hand-made file is rejected with its physical line, the right reason
    and its original text (empty fields kept)."""
    report, rows = _read([data_dir / "broken.csv"])
    assert [(line, reason, row) for _, line, reason, row in report.rejects] == [
        (3, "expected 4 fields, found 5", "u2,viewed,i2,1700000001,extra"),
        (5, "empty action", "u3,,i3,1700000002"),
        (7, "expected 4 fields, found 2", "u5,purchased"),
        (8, "unparsable timestamp 'yesterday'", "u6,viewed,i6,yesterday"),
        (9, "empty user_id", ",purchased,i7,1700000003"),
        (10, "empty item_id", "u8,purchased,,1700000004"),
    ]
    assert [r[0] for r in rows] == ["u1", "u,4", "u9"]
    assert rows[1][3] == 1704067200 and rows[2][3] == 1704189600
    assert report.rows_read == report.accepted + report.rejected == 9


def test_plain_three_column_format_uses_file_order(data_dir: Path) -> None:
    """Headerless user,action,item lines are read, and file order becomes time order."""
    report, rows = _read([data_dir / "plain.csv"])
    assert report.accepted == 4 and report.rejected == 0
    assert rows == [
        ("u1", "viewed", "i1", 0),
        ("u1", "carted", "i1", 1),
        ("u2", "purchased", "i1", 2),
        ("u2", "viewed", "i2", 3),
    ]


def test_file_order_continues_across_files(data_dir: Path, tmp_path: Path) -> None:
    """Over several plain files, the second file's rows come after the first file's."""
    second = tmp_path / "later.csv"
    second.write_text("u9,viewed,i9\n")
    _, rows = _read([data_dir / "plain.csv", second])
    assert rows[-1] == ("u9", "viewed", "i9", 4)


def test_headerless_four_columns(data_dir: Path) -> None:
    """Headerless lines with a fourth column take it as the timestamp."""
    _, rows = _read([data_dir / "headerless4.csv"])
    assert rows == [("u1", "viewed", "i1", 1700000000), ("u2", "purchased", "i1", 1700000100)]


def test_custom_columns_tsv_and_renamed_actions(data_dir: Path) -> None:
    """Configured column names, a tab-separated file, extra columns and renamed actions work."""
    params = EventsParams(
        user_column="visitor",
        action_column="event",
        item_column="sku",
        timestamp_column="ts",
        rename_actions={"pv": "viewed", "buy": "purchased"},
    )
    report, rows = _read([data_dir / "custom.tsv"], params)
    assert report.rejected == 0
    assert rows[1] == ("v1", "purchased", "s1", 1700000050)


def test_restricted_actions_reject_unknown_ones(data_dir: Path) -> None:
    """With an allowed action list, other actions are rejected by name."""
    report, _ = _read([data_dir / "plain.csv"], EventsParams(actions=("viewed", "purchased")))
    assert [(line, reason) for _, line, reason, _ in report.rejects] == [
        (2, "unknown action 'carted'")
    ]


def test_jsonl_with_bad_lines(data_dir: Path) -> None:
    """JSON Lines: numbers as ids, ISO times, invalid JSON, non-objects and missing keys."""
    report, rows = _read([data_dir / "events.jsonl"])
    assert rows == [("u1", "viewed", "i1", 1700000000), ("2", "purchased", "i1", 1704067200)]
    assert [(line, reason) for _, line, reason, _ in report.rejects] == [
        (4, "invalid JSON"),
        (5, "JSON line is not an object"),
        (6, "empty item_id"),
    ]
    assert report.rows_read == 5


def test_parquet_and_gzip(tmp_path: Path, data_dir: Path) -> None:
    """Parquet (typed columns) and gzip-compressed CSV read like plain CSV."""
    table = pa.table(
        {
            "user_id": [1, 2],
            "action": ["viewed", "purchased"],
            "item_id": ["a", "b"],
            "timestamp": [1_700_000_010, 1_700_000_020],
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    gz = tmp_path / "e.csv.gz"
    gz.write_bytes(gzip.compress((data_dir / "headerless4.csv").read_bytes()))
    _, rows = _read([tmp_path / "e.parquet", gz])
    assert rows == [
        ("1", "viewed", "a", 1_700_000_010),
        ("2", "purchased", "b", 1_700_000_020),
        ("u1", "viewed", "i1", 1700000000),
        ("u2", "purchased", "i1", 1700000100),
    ]


def test_header_missing_a_column_is_one_clear_error(tmp_path: Path) -> None:
    """A header without item_id is an InputError naming the file, line 1 and the column."""
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,action,sku\nu,viewed,x\n")
    with pytest.raises(InputError, match=r"bad.csv:1: header lacks column\(s\) item_id"):
        _read([bad])


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    """An empty file is an InputError, not an empty result."""
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="file is empty"):
        _read([empty])


GOOD = st.tuples(
    st.sampled_from(["u1", "u2", "ü3"]),
    st.sampled_from(["viewed", "purchased"]),
    st.sampled_from(["i1", "i2"]),
    st.integers(631_152_000, 1_700_000_000),  # 1990 .. 2023: plausible epoch seconds
).map(lambda r: ("good", ",".join(map(str, r))))
BAD = st.sampled_from(
    [
        ("bad", "u1,viewed"),
        ("bad", "u1,viewed,i1,5,6"),
        ("bad", ",viewed,i1,5"),
        ("bad", "u1,viewed,i1,notatime"),
        ("bad", "u1,,i1,5"),
        ("blank", ""),
    ]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(GOOD, BAD), min_size=1, max_size=40))
def test_rows_read_equals_accepted_plus_rejected(
    tmp_path: Path, lines: list[tuple[str, str]]
) -> None:
    """For any mix of good, malformed and blank lines: read = accepted + rejected, lines exact
    (and only blank lines after the header is an error)."""
    path = tmp_path / "mix.csv"
    path.write_text("user_id,action,item_id,timestamp\n" + "\n".join(t for _, t in lines) + "\n")
    if all(kind == "blank" for kind, _ in lines):
        with pytest.raises(InputError, match=r"mix\.csv: no rows after the header"):
            _read([path])
        return
    report, rows = _read([path])
    bad_lines = [n + 2 for n, (kind, _) in enumerate(lines) if kind == "bad"]
    good = [t for kind, t in lines if kind == "good"]
    assert report.rows_read == report.accepted + report.rejected == len(good) + len(bad_lines)
    assert sorted(line for _, line, _, _ in report.rejects) == bad_lines
    assert [",".join(map(str, r)) for r in rows] == good


def test_untimed_parquet_and_jsonl_use_file_order(tmp_path: Path) -> None:
    """Parquet without a timestamp column, and JSON Lines without the key, read in file order."""
    pq.write_table(
        pa.table({"user_id": ["a", "b"], "action": ["viewed"] * 2, "item_id": ["x", "y"]}),
        tmp_path / "e.parquet",
    )
    (tmp_path / "e.jsonl").write_text('{"user_id": "c", "action": "viewed", "item_id": "z"}\n')
    report, rows = _read([tmp_path / "e.parquet", tmp_path / "e.jsonl"])
    assert report.rejected == 0
    assert rows == [("a", "viewed", "x", 0), ("b", "viewed", "y", 1), ("c", "viewed", "z", 2)]


PARQUET_ROWS = st.one_of(
    st.tuples(st.sampled_from(["u1", "u2"]), st.sampled_from(["viewed", "purchased"]),
              st.sampled_from(["i1", "i2"]), st.integers(631_152_000, 1_700_000_000)),
    st.tuples(st.sampled_from(["", " ", "u\x01"]), st.just("viewed"), st.just("i1"),
              st.just(1_700_000_000)),
    st.tuples(st.just("u1"), st.just("viewed"), st.just("i1"),
              st.sampled_from([5, 1_700_000_000_000])),
)  # fmt: skip


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(PARQUET_ROWS, min_size=1, max_size=30), st.booleans(), st.booleans())
def test_parquet_rows_are_accepted_or_rejected_with_their_row_number_and_text(
    tmp_path: Path, rows: list[tuple[str, str, str, int]], timed: bool, numbered_column: bool
) -> None:
    """A Parquet file is read through a view (nothing copied): every row is accepted in file
    order or rejected with its 1-based row number, reason and its values as JSON; the same
    when the file has a column named like DuckDB's row number (then it is copied first)."""
    cols = {
        "user_id": [r[0] for r in rows],
        "action": [r[1] for r in rows],
        "item_id": [r[2] for r in rows],
    }
    if timed:
        cols["timestamp"] = [r[3] for r in rows]
    if numbered_column:
        cols["file_row_number"] = [7] * len(rows)
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table(cols), path, row_group_size=7)
    bad = [
        n for n, r in enumerate(rows)
        if r[0].strip() == "" or "\x01" in r[0] or (timed and r[3] in (5, 1_700_000_000_000))
    ]  # fmt: skip
    if len(bad) == len(rows) and timed and all(rows[n][3] == 1_700_000_000_000 for n in bad):
        with pytest.raises(InputError, match="every timestamp looks like milliseconds"):
            _read([path])
        return
    report, got = _read([path])
    assert report.rows_read == len(rows) == report.accepted + report.rejected
    assert [line for _, line, _, _ in report.rejects] == [n + 1 for n in bad]
    for (_, _, _, text), n in zip(report.rejects, bad, strict=True):
        assert f'"user_id":{json.dumps(rows[n][0])}' in text.replace(": ", ":")
    want = [(r[0], r[1], r[2], r[3] if timed else n) for n, r in enumerate(rows) if n not in bad]
    assert got == want
    con = duckdb.connect()
    read_events(con, [path], EventsParams())
    assert con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = 'raw'"
    ).fetchall() == [(0,)]
