"""Read and validate events into a DuckDB table, counting and keeping every rejected row.

Each file is parsed by DuckDB (``scans``: parallel, spilling to disk) and checked in SQL
(``checks``). A clean file is read once. When rows break a rule, one light pass over the file
(``records.locate``) gives their lines and original text, after checking it sees the records
DuckDB saw. When DuckDB cannot split a line (or that check fails), the file is read again by
the exact reader (``records``), which sees the records a plain CSV or JSON Lines reader sees,
and its rows go through the same checks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import duckdb
import pyarrow as pa

from shopscale.engine.local.checks import checked_sql
from shopscale.engine.local.records import (
    NOT_UTF8,
    Record,
    Unplaced,
    locate,
    read_records,
    texts,
    undecodable,
)
from shopscale.engine.local.scans import (
    NO_KINDS,
    ROW_NUMBER,
    first_line,
    scan_csv,
    scan_jsonl,
    scan_parquet,
    select_jsonl,
)
from shopscale.errors import InputError
from shopscale.events import EventsParams, Source, sniff
from shopscale.log import get_logger

log = get_logger("engine.local.reader")

REJECTS_SCHEMA = pa.schema(
    [("file", pa.string()), ("line", pa.int64()), ("reason", pa.string()), ("row", pa.string())]
)


@dataclass
class ReadReport:
    """What reading saw: rows read = accepted + rejected, per file and in total."""

    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    files: list[dict[str, object]] = field(default_factory=list)
    rejects: list[tuple[str, int, str, str]] = field(default_factory=list)
    timed: bool = True
    """Every file had a timestamp column (otherwise times are file order)."""
    positions: int = 0
    """File-order time of the row after the last one parsed (where a later read goes on)."""

    def rejects_table(self) -> pa.Table:
        """The rejected rows as an Arrow table (file, line, reason, row)."""
        cols: list[list[object]] = [list(c) for c in zip(*self.rejects, strict=True)] or [
            [],
            [],
            [],
            [],
        ]
        return pa.table(
            [pa.array(c, t.type) for c, t in zip(cols, REJECTS_SCHEMA, strict=True)],
            schema=REJECTS_SCHEMA,
        )


BATCH_ROWS = 65_536
"""Records the exact reader hands to DuckDB at a time."""
_FIELDS = ("user_id", "action", "item_id", "timestamp")
_WRONG_UNIT = re.compile(r"timestamp ('.*') looks like (\w+), not seconds")


def _batches(records: Iterable[Record], source: Source) -> Iterator[pa.Table]:
    """Records as Arrow tables of text columns, ``BATCH_ROWS`` at a time."""
    index = {name: n for n, name in enumerate(source.columns)}
    places = [index.get(name) if source.format == "csv" else None for name in _FIELDS]
    it = iter(records)
    while batch := list(islice(it, BATCH_ROWS)):
        try:
            yield _table(batch, places)
        except UnicodeEncodeError:  # bytes that were not UTF-8: those records are rejected
            fixed = [r._replace(fields=[], bad=NOT_UTF8) if undecodable(r) else r for r in batch]
            yield _table(fixed, places)


def _table(batch: list[Record], places: list[int | None]) -> pa.Table:
    """One batch of records as an Arrow table with the columns of ``exact``."""
    cols: dict[str, list[object]] = {
        "line": [r.line for r in batch],
        "last": [r.last for r in batch],
        "raw_line": [r.text for r in batch],
        "bad": [r.bad for r in batch],
    }
    for name, k in zip(("user_id", "action", "item_id", "ts_raw"), places, strict=True):
        cols[name] = (
            [None] * len(batch) if k is None else [None if r.bad else r.fields[k] for r in batch]
        )
    return pa.table(cols)


def _load_exact(con: duckdb.DuckDBPyConnection, source: Source, params: EventsParams) -> None:
    """Fill ``raw`` from the exact reader (every record, with its line and original text)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE exact (line BIGINT, last BIGINT, raw_line VARCHAR, "
        "bad VARCHAR, user_id VARCHAR, action VARCHAR, item_id VARCHAR, ts_raw VARCHAR)"
    )
    for batch in _batches(read_records(source), source):
        con.register("exact_batch", batch)
        con.execute("INSERT INTO exact BY NAME SELECT * FROM exact_batch")
        con.unregister("exact_batch")
    if source.format == "jsonl":
        select = select_jsonl("exact", params)
    else:
        select = f"SELECT *, {NO_KINDS} FROM exact"
    con.execute(f"CREATE OR REPLACE TEMP TABLE raw AS {select}")
    con.execute("DROP TABLE exact")


def _scan_fast(
    con: duckdb.DuckDBPyConnection, source: Source, params: EventsParams, tag: str
) -> set[int] | None:
    """Parse with DuckDB into ``raw``; return the lines it could not split into the file's
    columns (CSV), or None when it failed or JSON Lines had such lines. A Parquet file is
    typed and split already: ``raw`` is a view of it (rows numbered by ``ROW_NUMBER``),
    nothing is copied; only a file with a column of that name is copied into a table."""
    if source.format == "parquet":
        scan, numbered = scan_parquet(source, params, con)
        kind = "VIEW" if numbered else "TABLE"
        try:
            con.execute(f"CREATE OR REPLACE TEMP {kind} raw AS {scan}")
        except duckdb.Error as exc:
            raise InputError(source.path, f"cannot read Parquet: {first_line(exc)}") from None
        return set()
    scan = scan_csv(source, tag) if source.format == "csv" else scan_jsonl(source, params, tag)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE raw AS {scan}")
        lines = {int(r[0]) for r in con.execute(f"SELECT DISTINCT line FROM rej_{tag}").fetchall()}
        return lines if source.format == "csv" or not lines else None
    except duckdb.Error:
        return None
    finally:
        con.execute(f"DROP TABLE IF EXISTS rej_{tag}; DROP TABLE IF EXISTS scan_{tag}")


def _load_fast(
    con: duckdb.DuckDBPyConnection, source: Source, checked: str, structural: set[int]
) -> list[tuple[int, str, str]] | None:
    """Append ``raw``'s valid rows; return every reject with its line (``structural`` lines
    included), or None (nothing appended) when the records are not what DuckDB saw."""
    con.execute("BEGIN TRANSACTION")
    rejects: list[tuple[int, str, str]] | None = None
    try:
        inserted = _insert_valid(con, checked)
        if inserted == _count(con) and not structural:
            rejects = []
        elif source.format == "parquet":
            rejects = _rejects(con, checked, source)
        else:
            unplaced = _unplaced_rejects(con, checked) if inserted < _count(con) else []
            rejects = locate(source, _count(con), unplaced, structural)
    finally:
        con.execute("ROLLBACK" if rejects is None else "COMMIT")
    return rejects


def _raw_is_view(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``raw`` is a view (of a Parquet file) rather than a table."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = 'raw' AND temporary"
    ).fetchall()
    return bool(found[0][0])


def _count(con: duckdb.DuckDBPyConnection) -> int:
    """Rows in ``raw``."""
    return int(con.execute("SELECT count(*) FROM raw").fetchall()[0][0])


def _rejects(
    con: duckdb.DuckDBPyConnection, checked: str, source: Source
) -> list[tuple[int, str, str]]:
    """(line, reason, original row) of the rows of ``raw`` that break a rule, in file order;
    CSV rows from the exact reader have their text read back from the file."""
    rows = con.execute(
        f"SELECT line, last, reason, raw_line FROM {checked} WHERE reason IS NOT NULL ORDER BY ord"
    ).fetchall()
    spans = {
        n: (int(line), int(last)) for n, (line, last, _, text) in enumerate(rows) if text is None
    }
    found = texts(source, spans) if spans else {}
    return [
        (int(line), str(reason), str(found.get(int(line), "") if text is None else text))
        for line, _, reason, text in rows
    ]


def _unplaced_rejects(con: duckdb.DuckDBPyConnection, checked: str) -> list[Unplaced]:
    """Rejected rows of a DuckDB scan: ordinal, reason, and the fields DuckDB split."""
    rows = con.execute(
        "SELECT ord, reason, [user_id_src, action_src, item_id_src, ts_raw, raw_line] "
        f"FROM {checked} WHERE reason IS NOT NULL ORDER BY ord"
    ).fetchall()
    return [Unplaced(int(o), str(r), tuple(v)) for o, r, v in rows]


def _insert_valid(con: duckdb.DuckDBPyConnection, checked: str) -> int:
    """Append the rows that break no rule to ``events``; return how many."""
    result = con.execute(
        f"INSERT INTO events SELECT user_id, action, item_id, t FROM {checked} WHERE reason IS NULL"
    ).fetchall()
    return int(result[0][0])


def create_events_table(con: duckdb.DuckDBPyConnection) -> None:
    """The accepted-events table every file appends to."""
    con.execute(
        "CREATE OR REPLACE TABLE events (user_id VARCHAR NOT NULL, action VARCHAR NOT NULL, "
        "item_id VARCHAR NOT NULL, t BIGINT NOT NULL)"
    )


def load_file(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    params: EventsParams,
    *,
    tag: str,
    seq_offset: int,
    bounds: tuple[int, int],
    report: ReadReport,
) -> int:
    """Append one file's valid rows to ``events``; record its rejects; return records read."""
    structural = _scan_fast(con, source, params, tag)
    view = _raw_is_view(con)  # a Parquet file's rows are numbered by the view, not rowid
    checked = checked_sql(
        params, source.has_timestamp, bounds, seq_offset, row=ROW_NUMBER if view else "rowid"
    )
    try:
        bad_rows = None if structural is None else _load_fast(con, source, checked, structural)
    except duckdb.Error as exc:
        if source.format == "parquet":  # read only now, through the view
            raise InputError(source.path, f"cannot read Parquet: {first_line(exc)}") from None
        raise
    if structural is None or bad_rows is None:
        structural = set()
        _load_exact(con, source, params)  # CSV or JSON Lines only: ``raw`` is a table
        inserted = _insert_valid(con, checked)
        bad_rows = [] if inserted == _count(con) else _rejects(con, checked, source)
    parsed = _count(con) + len(structural)
    con.execute("DROP VIEW raw" if view else "DROP TABLE raw")
    if parsed == 0:
        raise InputError(
            source.path, "no rows after the header" if source.header else "file has no rows"
        )
    _refuse_wrong_unit(source, parsed, bad_rows)
    _record(report, source, parsed, bad_rows)
    return parsed


def _refuse_wrong_unit(
    source: Source, parsed: int, bad_rows: Sequence[tuple[int, str, str]]
) -> None:
    """A file whose every row has its time in one wrong unit is one error, not n rejects."""
    if len(bad_rows) < parsed:
        return
    found = [_WRONG_UNIT.fullmatch(reason) for _, reason, _ in bad_rows]
    units = {m.group(2) if m else None for m in found}
    if len(units) == 1 and found[0] is not None:
        unit, value = found[0].group(2), found[0].group(1)
        raise InputError(
            source.path,
            f"every timestamp looks like {unit}, not seconds (here {value}); "
            "give epoch seconds or ISO-8601",
            bad_rows[0][0],
        )


def _record(
    report: ReadReport, source: Source, read: int, bad_rows: Sequence[tuple[int, str, str]]
) -> None:
    """Add one file's counts and rejects (with line numbers) to the report."""
    name = str(source.path)
    for line, reason, text in bad_rows:
        report.rejects.append((name, int(line), str(reason), str(text or "")))
    report.rows_read += read
    report.rejected += len(bad_rows)
    report.accepted += read - len(bad_rows)
    report.files.append({"file": name, "rows_read": read, "rejected": len(bad_rows)})


def read_events(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    params: EventsParams,
    *,
    seq_start: int = 0,
) -> ReadReport:
    """Read every file into the ``events`` table; rows read = accepted + rejected. Untimed
    rows get file-order times from ``seq_start`` on (a model update continues its log).

    Timestamps are checked against ``params.time_bounds`` as of now; files a folder held but
    whose type is unknown (``InputFiles.skipped``) are listed in the report with why.
    """
    con.execute("SET TimeZone = 'UTC'")
    create_events_table(con)
    report = ReadReport()
    bounds = params.time_bounds(time.time())
    seq = seq_start
    for n, path in enumerate(paths):
        source = sniff(path, params)
        log.debug("reading %s as %s", path, source)
        report.timed = report.timed and source.has_timestamp
        seq += load_file(
            con, source, params, tag=str(n), seq_offset=seq, bounds=bounds, report=report
        )
    for path, why in getattr(paths, "skipped", ()):
        report.files.append({"file": str(path), "rows_read": 0, "rejected": 0, "skipped": why})
    report.rejects.sort(key=lambda r: (r[0], r[1]))
    report.positions = seq
    return report
