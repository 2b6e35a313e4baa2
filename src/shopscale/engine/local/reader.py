"""Read and validate events into a DuckDB table, counting and keeping every rejected row.

Each file is parsed by DuckDB (parallel, spilling to disk). Rows DuckDB cannot split into the
expected columns come back from its rejects table with their line; rows that split but fail our
rules (empty id, unknown action, unparsable timestamp) are found in SQL, and their lines are
recovered by one sequential pass over that file only when there are any.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from shopscale.errors import InputError
from shopscale.events import EventsParams, Source, record_lines, sniff
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


def _sql_str(value: str) -> str:
    """Quote a string literal for DuckDB SQL."""
    return "'" + value.replace("'", "''") + "'"


def _scan_csv(source: Source, params: EventsParams, tag: str) -> str:
    """A read_csv() call with every column as text, keeping structural errors in a table."""
    cols = ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in source.columns)
    ts = "timestamp" if "timestamp" in source.columns else "NULL"
    return (
        f"SELECT user_id, action, item_id, {ts} AS ts_raw, NULL::VARCHAR AS bad, "
        "NULL::VARCHAR AS raw_line "
        f"FROM read_csv({_sql_str(str(source.path))}, columns={{{cols}}}, "
        f"header={str(source.header).lower()}, delim={_sql_str(source.delimiter)}, "
        f"quote='\"', escape='\"', store_rejects=true, rejects_table='rej_{tag}', "
        f"rejects_scan='scan_{tag}', auto_detect=false, strict_mode=true)"
    )


def _scan_jsonl(source: Source, params: EventsParams, tag: str) -> str:
    """Each line as text, then JSON fields pulled out; invalid JSON becomes a reject reason."""
    names = {
        "user_id": params.user_column,
        "action": params.action_column,
        "item_id": params.item_column,
        "ts_raw": params.timestamp_column,
    }
    fields = ", ".join(
        f"CASE WHEN json_valid(line) THEN json_extract_string(line, {_sql_str('$.' + src)}) END"
        f" AS {dst}"
        for dst, src in names.items()
    )
    return (
        f"SELECT {fields}, CASE WHEN NOT json_valid(line) THEN 'invalid JSON' "
        "WHEN json_type(line) <> 'OBJECT' THEN 'JSON line is not an object' END AS bad, "
        "line AS raw_line "
        f"FROM read_csv({_sql_str(str(source.path))}, columns={{'line': 'VARCHAR'}}, "
        "header=false, delim='\\x01', quote='', escape='', auto_detect=false, "
        f"store_rejects=true, rejects_table='rej_{tag}', rejects_scan='scan_{tag}') "
        "WHERE line IS NOT NULL AND trim(line) <> ''"
    )


def _scan_parquet(source: Source, params: EventsParams, con: duckdb.DuckDBPyConnection) -> str:
    """A read_parquet() call with our columns cast to text (missing columns are an error)."""
    path = _sql_str(str(source.path))
    try:
        have = {
            r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({path})").fetchall()
        }
    except duckdb.Error as exc:
        raise InputError(source.path, f"cannot read Parquet: {exc}") from None
    need = [params.user_column, params.action_column, params.item_column]
    missing = [c for c in need if c not in have]
    if missing:
        raise InputError(source.path, f"missing column(s) {', '.join(missing)}")
    ts = (
        f'CAST("{params.timestamp_column}" AS VARCHAR)'
        if params.timestamp_column in have
        else "NULL"
    )
    return (
        f'SELECT CAST("{params.user_column}" AS VARCHAR) AS user_id, '
        f'CAST("{params.action_column}" AS VARCHAR) AS action, '
        f'CAST("{params.item_column}" AS VARCHAR) AS item_id, {ts} AS ts_raw, '
        f"NULL::VARCHAR AS bad, NULL::VARCHAR AS raw_line FROM read_parquet({path})"
    )


def _reason_sql(params: EventsParams, has_ts: bool) -> str:
    """SQL CASE naming the first rule a parsed row breaks, or NULL when it is valid."""
    checks = [
        "WHEN bad IS NOT NULL THEN bad",
        "WHEN user_id IS NULL OR user_id = '' THEN 'empty user_id'",
        "WHEN item_id IS NULL OR item_id = '' THEN 'empty item_id'",
        "WHEN action IS NULL OR action = '' THEN 'empty action'",
    ]
    if params.actions:
        allowed = ", ".join(_sql_str(a) for a in params.actions)
        checks.append(f"WHEN action NOT IN ({allowed}) THEN 'unknown action ''' || action || ''''")
    if has_ts:
        checks.append("WHEN ts_raw IS NULL OR trim(ts_raw) = '' THEN 'empty timestamp'")
        checks.append("WHEN t IS NULL THEN 'unparsable timestamp ''' || ts_raw || ''''")
    return "CASE " + " ".join(checks) + " END"


def _rename_sql(params: EventsParams) -> str:
    """SQL expression mapping raw action names to canonical ones."""
    if not params.rename_actions:
        return "trim(action)"
    whens = " ".join(
        f"WHEN {_sql_str(k)} THEN {_sql_str(v)}" for k, v in params.rename_actions.items()
    )
    return f"CASE trim(action) {whens} ELSE trim(action) END"


TS_SQL = (
    "coalesce(TRY_CAST(trim(ts_raw) AS BIGINT), "
    "TRY_CAST(floor(TRY_CAST(trim(ts_raw) AS DOUBLE)) AS BIGINT), "
    "TRY_CAST(epoch(TRY_CAST(trim(ts_raw) AS TIMESTAMPTZ)) AS BIGINT))"
)


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
    report: ReadReport,
) -> int:
    """Append one file's valid rows to ``events``; record its rejects; return rows parsed."""
    if source.format == "csv":
        scan = _scan_csv(source, params, tag)
    elif source.format == "jsonl":
        scan = _scan_jsonl(source, params, tag)
    else:
        scan = _scan_parquet(source, params, con)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE raw AS {scan}")
    except duckdb.Error as exc:
        raise InputError(source.path, f"cannot read: {str(exc).splitlines()[0]}") from None
    has_ts = source.has_timestamp
    t_expr = TS_SQL if has_ts else f"(rowid + {seq_offset})"
    checked = (
        f"(SELECT *, {_reason_sql(params, has_ts)} AS reason FROM (SELECT rowid AS ord, "
        f"trim(user_id) AS user_id, {_rename_sql(params)} AS action, trim(item_id) AS item_id, "
        f"ts_raw, {t_expr} AS t, bad, raw_line FROM raw))"
    )
    before = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    con.execute(
        f"INSERT INTO events SELECT user_id, action, item_id, t FROM {checked} WHERE reason IS NULL"
    )
    parsed = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    inserted = con.execute("SELECT count(*) FROM events").fetchall()[0][0] - before
    bad_rows = []
    if inserted < parsed:  # only then look for the rows that broke a rule
        bad_rows = con.execute(
            "SELECT ord, reason, "
            "coalesce(raw_line, concat_ws(',', user_id, action, item_id, ts_raw)) "
            f"FROM {checked} WHERE reason IS NOT NULL ORDER BY ord"
        ).fetchall()
    structural = _structural_rejects(con, source, tag)
    _record(report, source, parsed, bad_rows, structural)
    con.execute("DROP TABLE raw")
    return int(parsed)


def _structural_rejects(
    con: duckdb.DuckDBPyConnection, source: Source, tag: str
) -> list[tuple[int, str, str]]:
    """Lines DuckDB could not split into columns (one entry per line)."""
    if source.format == "parquet":
        return []
    rows = con.execute(
        f"SELECT line, first(error_message ORDER BY column_idx), first(csv_line) "
        f"FROM rej_{tag} GROUP BY line ORDER BY line"
    ).fetchall()
    con.execute(f"DROP TABLE rej_{tag}; DROP TABLE scan_{tag}")
    return [
        (int(line), str(msg).split("\n")[0], str(text or "").strip("\r\n"))
        for line, msg, text in rows
    ]


def _record(
    report: ReadReport,
    source: Source,
    parsed: int,
    bad_rows: Sequence[tuple[int, str, str]],
    structural: Sequence[tuple[int, str, str]],
) -> None:
    """Add one file's counts and rejects (with line numbers) to the report."""
    name = str(source.path)
    skip = {line for line, _, _ in structural}
    if source.format == "parquet":
        lines = {ord_: ord_ + 1 for ord_, _, _ in bad_rows}
    else:
        lines = record_lines(source, [o for o, _, _ in bad_rows], skip)
    for line, msg, text in structural:
        report.rejects.append((name, line, msg, text))
    for ord_, reason, text in bad_rows:
        report.rejects.append((name, lines.get(ord_, -1), reason, text))
    read = parsed + len(structural)
    rejected = len(structural) + len(bad_rows)
    report.rows_read += read
    report.rejected += rejected
    report.accepted += read - rejected
    report.files.append({"file": name, "rows_read": read, "rejected": rejected})


def read_events(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    params: EventsParams,
    *,
    seq_start: int = 0,
) -> ReadReport:
    """Read every file into the ``events`` table; rows read = accepted + rejected. Untimed
    rows get file-order times from ``seq_start`` on (a model update continues its log)."""
    con.execute("SET TimeZone = 'UTC'")
    create_events_table(con)
    report = ReadReport()
    seq = seq_start
    for n, path in enumerate(paths):
        source = sniff(path, params)
        log.debug("reading %s as %s", path, source)
        report.timed = report.timed and source.has_timestamp
        seq += load_file(con, source, params, tag=str(n), seq_offset=seq, report=report)
    report.rejects.sort(key=lambda r: (r[0], r[1]))
    report.positions = seq
    return report
