"""DuckDB scans of one input file into the common ``raw`` shape.

Every scan gives ``line, last, raw_line, bad`` (line numbers and original text when known, a
structural reason when the row is bad), the text columns ``user_id, action, item_id, ts_raw``,
and the ``*_kind`` type columns typed sources fill (see ``checks``).
"""

from __future__ import annotations

import duckdb

from shopscale.engine.local.checks import sql_str
from shopscale.errors import InputError
from shopscale.events import EventsParams, Source

NO_KINDS = (
    "NULL::VARCHAR AS user_id_kind, NULL::VARCHAR AS action_kind, NULL::VARCHAR AS item_id_kind"
)
_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
_FLOATS = ("FLOAT", "DOUBLE", "DECIMAL")
_TIMES = ("TIMESTAMP", "DATE")


def _compression(source: Source) -> str:
    """DuckDB's compression option from the sniffed content, not the file name."""
    return "'gzip'" if source.compressed else "'none'"


def _rejects_options(tag: str) -> str:
    """read_csv options keeping rows DuckDB cannot split in a table (so the scan goes on)."""
    return f"store_rejects=true, rejects_table='rej_{tag}', rejects_scan='scan_{tag}'"


def scan_csv(source: Source, tag: str) -> str:
    """A read_csv() call with every column as text, keeping structural errors in a table."""
    cols = ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in source.columns)
    ts = "timestamp" if "timestamp" in source.columns else "NULL::VARCHAR"
    return (
        "SELECT NULL::BIGINT AS line, NULL::BIGINT AS last, NULL::VARCHAR AS raw_line, "
        "NULL::VARCHAR AS bad, "
        f"user_id, action, item_id, {ts} AS ts_raw, {NO_KINDS} "
        f"FROM read_csv({sql_str(str(source.path))}, columns={{{cols}}}, "
        f"header={str(source.header).lower()}, delim={sql_str(source.delimiter)}, "
        f"quote='\"', escape='\"', compression={_compression(source)}, {_rejects_options(tag)}, "
        "auto_detect=false, strict_mode=true)"
    )


def select_jsonl(relation: str, params: EventsParams) -> str:
    """JSON fields (and their JSON types) pulled out of each line's text; bad JSON is a reason."""
    names = {
        "user_id": params.user_column,
        "action": params.action_column,
        "item_id": params.item_column,
        "ts_raw": params.timestamp_column,
    }
    fields = []
    for dst, src in names.items():
        path = sql_str('$."' + src.replace('"', '\\"') + '"')
        value = f"json_extract_string(raw_line, {path})"
        fields.append(f"CASE WHEN json_valid(raw_line) THEN {value} END AS {dst}")
        if dst != "ts_raw":
            fields.append(
                f"CASE WHEN json_valid(raw_line) THEN json_type(raw_line, {path}) END AS {dst}_kind"
            )
    return (
        f"SELECT line, last, raw_line, CASE WHEN bad IS NOT NULL THEN bad "
        "WHEN NOT json_valid(raw_line) THEN 'invalid JSON' "
        "WHEN json_type(raw_line) <> 'OBJECT' THEN 'JSON line is not an object' END AS bad, "
        f"{', '.join(fields)} FROM {relation}"
    )


def scan_jsonl(source: Source, params: EventsParams, tag: str) -> str:
    """Each non-blank line as text, then its JSON fields."""
    lines = (
        "(SELECT NULL::BIGINT AS line, NULL::BIGINT AS last, line AS raw_line, "
        "NULL::VARCHAR AS bad "
        f"FROM read_csv({sql_str(str(source.path))}, columns={{'line': 'VARCHAR'}}, "
        "header=false, delim='\\x01', quote='', escape='', auto_detect=false, "
        f"compression={_compression(source)}, {_rejects_options(tag)}) "
        "WHERE line IS NOT NULL AND trim(line) <> '')"
    )
    return select_jsonl(lines, params)


def _parquet_kind(source: Source, column: str, sql_type: str, *, timestamp: bool) -> str:
    """SQL for a Parquet column's kind: NULL for text and integers, 'DOUBLE' for fractions.

    Any other type (boolean, binary, lists, structs) is not an id: one error for the file.
    """
    base = sql_type.split("(")[0].lstrip("U")
    if (
        sql_type in ("VARCHAR", "UUID")
        or base in _INTEGERS
        or (timestamp and base.startswith(_TIMES))
    ):
        return "NULL::VARCHAR"
    if base in _FLOATS:
        return "'DOUBLE'"
    expected = "epoch seconds, ISO-8601 text or a timestamp" if timestamp else "text or integers"
    raise InputError(source.path, f"column {column} has type {sql_type}; expected {expected}")


ROW_NUMBER = "file_row_number"
"""The 0-based row number ``read_parquet`` adds (``file_row_number = true``)."""


def scan_parquet(
    source: Source, params: EventsParams, con: duckdb.DuckDBPyConnection
) -> tuple[str, bool]:
    """A read_parquet() call with our columns as text, their kinds, each row as JSON and,
    unless the file has a column of that name, its row number (``ROW_NUMBER``); and whether
    it has the row number. Meant as a view: the JSON is only made for the rows a query shows
    (the rejects), and nothing is copied."""
    path = sql_str(str(source.path))
    try:
        types = {
            r[0]: r[1]
            for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({path})").fetchall()
        }
    except duckdb.Error as exc:
        raise InputError(source.path, f"cannot read Parquet: {first_line(exc)}") from None
    roles = {
        "user_id": params.user_column,
        "action": params.action_column,
        "item_id": params.item_column,
    }
    missing = [c for c in roles.values() if c not in types]
    if missing:
        raise InputError(source.path, f"missing column(s) {', '.join(missing)}")
    numbered = ROW_NUMBER not in types
    if source.has_timestamp:
        roles["ts_raw"] = params.timestamp_column
    parts, shown = [], []
    for role, col in roles.items():
        quoted = '"' + col.replace('"', '""') + '"'
        kind = _parquet_kind(source, col, types[col], timestamp=role == "ts_raw")
        parts.append(f"CAST({quoted} AS VARCHAR) AS {role}")
        if role != "ts_raw":
            parts.append(f"{kind} AS {role}_kind")
        shown.append(f"{sql_str(col)}: {quoted}")
    if not source.has_timestamp:
        parts.append("NULL::VARCHAR AS ts_raw")
    if numbered:
        parts.append(ROW_NUMBER)
    return (
        f"SELECT NULL::BIGINT AS line, NULL::BIGINT AS last, "
        f"to_json({{{', '.join(shown)}}})::VARCHAR AS raw_line, "
        f"NULL::VARCHAR AS bad, {', '.join(parts)} "
        f"FROM read_parquet({path}, file_row_number = {str(numbered).lower()})",
        numbered,
    )


def first_line(exc: BaseException) -> str:
    """The first line of a (DuckDB) error message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
