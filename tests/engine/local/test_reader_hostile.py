"""Hostile input, read in-process: every corpus file ends in one exact error or exact rejects.

The corpus is ``tests/data/hostile/`` (built by its ``make_corpus.py``). Each file is in exactly
one table below: ``ERRORS`` (one InputError, its message exact), ``REJECTS`` (the exact rejected
rows and the accepted count) or ``CLEAN`` (the exact accepted rows). Rows read = accepted +
rejected wherever reading completes.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopscale.engine.local.reader import ReadReport, read_events
from shopscale.errors import InputError
from shopscale.events import MAX_FIELD_CHARS, EventsParams, resolve_inputs

HOSTILE = Path(__file__).parents[2] / "data" / "hostile"
T = 1_704_067_200
GOOD = [("u1", "viewed", "i1", T), ("u2", "purchased", "i1", T + 60)]
UNKNOWN = "unknown file type (expected .csv, .jsonl or .parquet, optionally .gz)"

ERRORS: dict[str, str] = {
    "quote_unterminated.csv": ":5: a quote opened on this line never closes",
    "utf16.csv": ": file is UTF-16 encoded; save it as UTF-8",
    "utf16_nobom.csv": ": file is not text (many NUL bytes: UTF-16 or binary?); use UTF-8",
    "header_missing_item.csv": ":1: header lacks column(s) item_id "
    "(found: user_id, action, sku, timestamp)",
    "header_twice.csv": ":1: header names column(s) user_id twice",
    "header_only.csv": ": no rows after the header",
    "header_only_blank_lines.jsonl": ": file has no rows",
    "empty.csv": ": file is empty",
    "two_columns.csv": ":1: cannot tell the layout: no header naming user_id/action/item_id, "
    "and 2 columns where a headerless file has 3 (user_id,action,item_id) or 4 (…,timestamp)",
    "ids_struct.parquet": ": column item_id has type STRUCT(a BIGINT); expected text or integers",
    "ids_bool.parquet": ": column user_id has type BOOLEAN; expected text or integers",
    "ts_bool.parquet": ": column timestamp has type BOOLEAN; "
    "expected epoch seconds, ISO-8601 text or a timestamp",
    "missing_item.parquet": ": missing column(s) item_id",
    "corrupt.parquet": ": cannot read Parquet: Parquet file size is 88 bytes, smaller than the "
    "size reported by footer's (7105633bytes)",
    "truncated.csv.gz": ": cannot read file: Compressed file ended before the end-of-stream "
    "marker was reached",
    "parquet.csv.gz": ": a gzip-compressed Parquet file is not supported",
    "text_named.parquet": ": named as Parquet but is not a Parquet file (no PAR1 magic)",
    "notes.md": f": {UNKNOWN}",
    "array.json": ":1: a JSON array, not JSON Lines (one object per line)",
    "array_pretty.json": ":1: a JSON array, not JSON Lines (one object per line)",
    "milliseconds_all.csv": ":2: every timestamp looks like milliseconds, not seconds "
    "(here '1704067200000'); give epoch seconds or ISO-8601",
}

L257 = "i" * 257
REJECTS: dict[str, tuple[int, list[tuple[int, str, str]]]] = {
    "quote_closes_later.csv": (
        2,
        [
            (
                3,
                "user_id contains control character U+000A",
                f'"u2,viewed,i2,{T}\nu3,viewed,i3,{T}\nu4",viewed,i4,{T}',
            )
        ],
    ),
    "quote_bad.csv": (2, [(3, "bad quoting: ',' expected after '\"'", f'"u2"x,viewed,i2,{T}')]),
    "latin1.csv": (
        1,
        [
            (
                2,
                "invalid UTF-8 bytes (another encoding, such as Latin-1?); save the file as UTF-8",
                f"u1,purchased,caf\ufffd,{T}",
            )
        ],
    ),
    "nul.csv": (1, [(2, "user_id contains control character U+0000", f"u\x001,viewed,i1,{T}")]),
    "latin1.jsonl": (
        1,
        [
            (
                1,
                "invalid UTF-8 bytes (another encoding, such as Latin-1?); save the file as UTF-8",
                '"item_id": "caf\ufffd"',
            )
        ],
    ),
    "fields.csv": (
        2,
        [
            (3, "expected 4 fields, found 5", f"u2,purchased,i2,{T},"),
            (4, "expected 4 fields, found 2", "u3,purchased"),
            (5, "expected 4 fields, found 6", f"u4,purchased,i4,{T},x,y"),
            (7, "empty user_id", ",,,"),
        ],
    ),
    "ids.csv": (
        4,
        [
            (3, "user_id contains control character U+0000", f"u\x002,purchased,i2,{T}"),
            (4, "user_id is only whitespace", f"\t,purchased,i3,{T}"),
            (5, "empty user_id", f"   ,purchased,i4,{T}"),
            (6, "empty user_id", f"\u00a0\u3000,purchased,i5,{T}"),
            (7, "item_id contains control character U+007F", f"u6,purchased,i\x7f6,{T}"),
            (8, "action contains control character U+0085", f"u7,vie\x85wed,i7,{T}"),
            (10, "item_id is 257 characters long (at most 256)", f"u9,purchased,{L257},{T}"),
            (11, "user_id contains control character U+0009", f'"u\t10",purchased,i10,{T}'),
        ],
    ),
    "ids.jsonl": (
        4,
        [
            (3, "item_id '149.5' is not a whole number", "149.5"),
            (4, "user_id is a JSON object, not an id", '{"id": 3}'),
            (5, "item_id is a JSON array, not an id", '["i4"]'),
            (6, "item_id is a JSON boolean, not an id", "true"),
            (7, "empty item_id", "null"),
            (10, "user_id is only whitespace", '"\\t"'),
            (11, "user_id contains control character U+0000", '"u\\u0000"'),
            (12, "action is a JSON object, not an id", '{"a": 1}'),
        ],
    ),
    "ids_float.parquet": (
        2,
        [
            (2, "item_id '149.5' is not a whole number", '"item_id":149.5'),
            (3, "item_id 'nan' is not a whole number", '"item_id":NaN'),
        ],
    ),
    "timestamps.csv": (
        3,
        [
            (3, "timestamp '9999-12-31' is in the future", "u1,purchased,i1,9999-12-31"),
            (
                4,
                "timestamp '1704068300000' looks like milliseconds, not seconds",
                "u2,purchased,i2,1704068300000",
            ),
            (
                5,
                "timestamp '1704068300000000' looks like microseconds, not seconds",
                "u3,purchased,i3,1704068300000000",
            ),
            (
                6,
                "timestamp '1704068300000000000' looks like nanoseconds, not seconds",
                "u4,purchased,i4,1704068300000000000",
            ),
            (7, "timestamp '12' is before 1990-01-01", "u5,purchased,i5,12"),
            (
                8,
                "timestamp '1989-12-31T23:59:59Z' is before 1990-01-01",
                "u6,purchased,i6,1989-12-31T23:59:59Z",
            ),
            (9, "timestamp '-5' is before 1990-01-01", "u7,purchased,i7,-5"),
            (10, "unparsable timestamp 'nan'", "u8,purchased,i8,nan"),
            (11, "timestamp '1e20' is out of range", "u9,purchased,i9,1e20"),
            (
                12,
                "timestamp '2100-01-01T00:00:00Z' is in the future",
                "u10,purchased,i10,2100-01-01T00:00:00Z",
            ),
            (15, "empty timestamp", "u13,purchased,i13,"),
        ],
    ),
    "timestamps.jsonl": (
        1,
        [
            (2, "timestamp '1704067200000' looks like milliseconds, not seconds", "1704067200000"),
            (3, "timestamp '1e300' is out of range", "1e+300"),
            (4, "timestamp '9999-12-31' is in the future", '"9999-12-31"'),
            (5, "unparsable timestamp 'true'", "true"),
            (6, "empty timestamp", "null"),
        ],
    ),
    "ts_ms.parquet": (
        1,
        [(2, "timestamp '1704067200000' looks like milliseconds, not seconds", "1704067200000")],
    ),
    "far_future_one_row.csv": (
        40,
        [(42, "timestamp '9999-12-31' is in the future", "u1,purchased,i9,9999-12-31")],
    ),
    "not_objects.jsonl": (
        2,
        [
            (2, "JSON line is not an object", "[1, 2]"),
            (3, "JSON line is not an object", '"text"'),
            (4, "JSON line is not an object", "42"),
            (5, "JSON line is not an object", "null"),
            (6, "invalid JSON", '{"user_id": "u2",'),
        ],
    ),
}
"""For JSON Lines and Parquet the row is checked to contain the given text (the whole line is
long); for CSV it is the exact original line."""

CLEAN: dict[str, list[tuple[str, str, str, int]]] = {
    "bom.csv": GOOD,
    "bom_headerless.csv": GOOD,
    "bom.jsonl": GOOD[:1],
    "tab.tsv": GOOD,
    "semicolon.csv": GOOD,
    "pipe_headerless.csv": GOOD,
    "crlf.csv": GOOD,
    "cr_only.csv": GOOD,
    "no_final_newline.csv": GOOD,
    "trailing_separator_all.csv": GOOD,
    "gzip_named.csv": GOOD,
    "bom.csv.gz": GOOD,
    "semicolon_crlf.csv.gz": GOOD,
    "plain_named.csv.gz": GOOD,
    "parquet_named.csv": [("u1", "purchased", "i1", T)],
    "blank_lines.csv": [("u1", "viewed", "i1", T), ("u2", "viewed", "i2", T)],
    "quote_good.csv": [
        ("u,1", "viewed", 'i "one"', T),
        ("u2", 'vi"ewed', "i2", T),
        ("u3", "viewed", "i3", T),
    ],
    "multiline_note.csv": [("u1", "viewed", "i1", T), ("u2", "viewed", "i2", T)],
    "ids_uuid.parquet": [("00000000-0000-0000-0000-000000000001", "purchased", "i1", T)],
    "ts_types.parquet": [("1", "viewed", "i1", T), ("2", "purchased", "i2", T + 60)],
    "folder_with_readme": GOOD,
}


def _read(*specs: str | Path, params: EventsParams | None = None):  # type: ignore[no-untyped-def]
    """Resolve and read inputs into a fresh DuckDB; return the report and accepted rows."""
    con = duckdb.connect()
    report = read_events(con, resolve_inputs(list(specs)), params or EventsParams())
    rows = con.execute("SELECT user_id, action, item_id, t FROM events ORDER BY rowid").fetchall()
    return report, rows


def _balanced(report: ReadReport) -> None:
    """Rows read = accepted + rejected, in total and per file."""
    assert report.rows_read == report.accepted + report.rejected
    assert report.rows_read == sum(int(f["rows_read"]) for f in report.files)  # type: ignore[call-overload]
    assert report.rejected == len(report.rejects)


def test_every_corpus_file_has_one_expectation() -> None:
    """Each file of the corpus is in exactly one table, and each table entry is a corpus file."""
    names = {p.name for p in HOSTILE.iterdir() if p.name != "make_corpus.py"}
    tables = [set(ERRORS), set(REJECTS), set(CLEAN)]
    assert sorted(names) == sorted(n for t in tables for n in t)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_hostile_file_is_one_exact_error(name: str) -> None:
    """A file that cannot be read as events is one InputError naming it (and its line)."""
    with pytest.raises(InputError) as caught:
        _read(HOSTILE / name)
    assert str(caught.value) == f"{HOSTILE / name}{ERRORS[name]}"
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", sorted(REJECTS))
def test_hostile_file_gives_exact_rejects(name: str) -> None:
    """Bad rows are rejected with their line, reason and original text; the rest accepted."""
    accepted, want = REJECTS[name]
    report, rows = _read(HOSTILE / name)
    got = [(line, reason, row) for file, line, reason, row in report.rejects]
    assert [(line, reason) for line, reason, _ in got] == [(line, r) for line, r, _ in want]
    exact = name.endswith(".csv")
    for (_, _, row), (_, _, text) in zip(got, want, strict=True):
        assert row == text if exact else text in row
    assert {file for file, *_ in report.rejects} <= {str(HOSTILE / name)}
    assert report.accepted == len(rows) == accepted
    _balanced(report)


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_hostile_file_reads_clean(name: str) -> None:
    """Odd but valid files (BOMs, separators, line ends, disguised formats) read every row."""
    report, rows = _read(HOSTILE / name)
    assert rows == CLEAN[name]
    assert report.rejected == 0
    _balanced(report)


def test_typed_whole_numbers_are_the_same_id() -> None:
    """A JSON 149.0 is item 149, like the JSON 149; 1e3 is 1000; text '149.0' stays text."""
    _, rows = _read(HOSTILE / "ids.jsonl")
    assert [r[2] for r in rows] == ["149", "149", "1000", "149.0"]
    assert rows[-1][0] == "12345678901234567890"


def test_folder_skips_files_of_unknown_type_and_lists_them() -> None:
    """A README and a LICENSE in an input folder are skipped and listed in the file report."""
    folder = HOSTILE / "folder_with_readme"
    report, _ = _read(folder)
    assert report.files == [
        {"file": str(folder / "events.csv"), "rows_read": 2, "rejected": 0},
        {"file": str(folder / "LICENSE"), "rows_read": 0, "rejected": 0, "skipped": UNKNOWN},
        {"file": str(folder / "README.md"), "rows_read": 0, "rejected": 0, "skipped": UNKNOWN},
    ]


def test_explicit_file_of_unknown_type_is_an_error() -> None:
    """A file named on its own whose type is unknown is an error, not skipped."""
    readme = HOSTILE / "folder_with_readme" / "README.md"
    with pytest.raises(InputError, match=r"README\.md: unknown file type"):
        _read(readme)


def test_same_file_twice_is_read_once(caplog: pytest.LogCaptureFixture) -> None:
    """A file named twice, or reached by a folder and a glob too, is read once, with a warning."""
    folder = HOSTILE / "folder_with_readme"
    report, rows = _read(
        folder / "events.csv", folder, str(folder / "*.csv"), folder / "events.csv"
    )
    assert report.rows_read == 2 and rows == GOOD
    assert [f["file"] for f in report.files if "skipped" not in f] == [str(folder / "events.csv")]
    assert sum("is the same file as" in r.getMessage() for r in caplog.records) == 3


def test_unterminated_quote_in_a_big_file_names_its_line(tmp_path: Path) -> None:
    """The issue's 5,001-line file whose line 2502 opens a quote that never closes is an error
    at line 2502, not 2,501 rows read."""
    lines = ["user_id,action,item_id,timestamp"]
    lines += [f"u{k % 50},viewed,{k % 100},{T + k}" for k in range(1, 5001)]
    lines[2501] = '"u1,viewed,149,1704068300'
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as caught:
        _read(path)
    assert str(caught.value) == f"{path}:2502: a quote opened on this line never closes"


def test_huge_fields(tmp_path: Path) -> None:
    """A field over MAX_FIELD_CHARS on one line is a reject (row cut, its length said); a quote
    open over more than that many characters of later lines is an error at its line."""
    huge = "x" * (MAX_FIELD_CHARS + 5)
    one = tmp_path / "one.csv"
    one.write_text(f"user_id,action,item_id,timestamp\nu{huge},viewed,i1,{T}\nu2,viewed,i2,{T}\n")
    report, rows = _read(one)
    assert rows == [("u2", "viewed", "i2", T)]
    ((_, line, reason, row),) = report.rejects
    assert (line, reason) == (2, f"field longer than {MAX_FIELD_CHARS:,} characters")
    whole = f"u{huge},viewed,i1,{T}"
    assert row == f"{whole[:10_000]}... [cut: {len(whole):,} characters]"
    many = tmp_path / "many.csv"
    body = "".join(f"u{k},viewed,i{k},{T}\n" for k in range(MAX_FIELD_CHARS // 20))
    many.write_text(f'user_id,action,item_id,timestamp\nu0,viewed,i0,{T}\n"u1,viewed\n{body}')
    with pytest.raises(InputError, match=r"many\.csv:3: a quote opened on this line does not"):
        _read(many)


def test_time_bounds_are_settings(tmp_path: Path) -> None:
    """min_time and max_future_days move the plausible window (and are validated)."""
    path = tmp_path / "old.csv"
    path.write_text("user_id,action,item_id,timestamp\nu1,viewed,i1,12\nu2,viewed,i2,1970-01-02\n")
    report, rows = _read(path, params=EventsParams(min_time="1970-01-01"))
    assert rows == [("u1", "viewed", "i1", 12), ("u2", "viewed", "i2", 86_400)]
    future = tmp_path / "future.csv"
    future.write_text("user_id,action,item_id,timestamp\nu1,viewed,i1,2200-01-01\n")
    report, _ = _read(future, params=EventsParams(max_future_days=200 * 366))
    assert report.accepted == 1
    with pytest.raises(ValueError, match="min_time must be an ISO-8601 date"):
        EventsParams(min_time="yesterday")
    with pytest.raises(ValueError, match="max_future_days must be a finite number"):
        EventsParams(max_future_days=float("nan"))
    with pytest.raises(ValueError, match="max_future_days must be >= 0"):
        EventsParams(max_future_days=-1.0)


FIELD = st.sampled_from(["u1", "", "a b", '"', '""', '"a,b"', "x\ny", "viewed", "9", "a\tb", ";"])


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(FIELD, min_size=1, max_size=6), min_size=1, max_size=12))
def test_records_are_what_a_plain_reader_sees(tmp_path: Path, rows: list[list[str]]) -> None:
    """For any text of fields, quotes, separators and line breaks, either rows read equal the
    records Python's csv reader sees (blank lines aside) and = accepted + rejected, or the
    read stops with one InputError naming a line."""
    text = "user_id,action,item_id,timestamp\n" + "".join(",".join(r) + "\n" for r in rows)
    path = tmp_path / "mix.csv"
    path.write_text(text)
    try:
        plain = list(csv.reader(io.StringIO(text, newline=""), strict=True))[1:]
    except csv.Error:
        plain = None
    error: InputError | None = None
    try:
        report, _ = _read(path)
    except InputError as exc:
        error = exc
    if error is not None:
        assert error.path == str(path) and "\n" not in str(error)
        assert error.line is not None or "no rows" in error.reason
        return
    _balanced(report)
    if plain is not None:
        assert report.rows_read == sum(1 for r in plain if r)
