"""The rules a parsed row must meet, as DuckDB SQL: ids, action and timestamp.

Every source gives the same text columns (``user_id``, ``action``, ``item_id``, ``ts_raw``) and,
for typed sources (JSON Lines, Parquet), each column's type (``*_kind``: a JSON type name such
as ``DOUBLE`` or ``OBJECT``). Whole numbers from typed sources are normalised (``149.0`` is item
``149``); JSON objects, arrays and booleans, fractional numbers, blank or control characters and
ids longer than ``MAX_ID_LENGTH`` are rejected. Timestamps must be plausible epoch seconds (or
ISO-8601) within the bounds ``EventsParams.time_bounds`` gives; milliseconds, microseconds and
nanoseconds given as seconds are named as such.
"""

from __future__ import annotations

from shopscale.events import MAX_ID_LENGTH, EventsParams

ID_COLUMNS = ("user_id", "item_id", "action")
CONTROL = r"'[\x00-\x1F\x7F\x{80}-\x{9F}]'"
BLANK = r"'[\s\pZ\x{FEFF}\x{200B}]+'"
SUSPICIOUS = r"'[\x00-\x1F\x7F\x{80}-\x{9F}\pZ\x{FEFF}\x{200B}]'"
"""Any character that may make an id blank or unprintable: one test per row before the exact
ones (a space matches too, so ids with spaces take the slower path)."""
NUMBER = r"'[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?'"
SHOWN_CHARS = 40
"""Longest value quoted in a reason; longer ones are cut (the whole row is in rejects.csv)."""
TS_SQL = (
    "coalesce(CASE WHEN NOT contains(ts_raw, '.') THEN TRY_CAST(trim(ts_raw) AS BIGINT) END, "
    "TRY_CAST(floor(TRY_CAST(trim(ts_raw) AS DOUBLE)) AS BIGINT), "
    "TRY_CAST(epoch(TRY_CAST(trim(ts_raw) AS TIMESTAMPTZ)) AS BIGINT))"
)
"""Epoch seconds from whole numbers, numbers with a fraction (floored) or ISO-8601 text."""
_UNITS = ((1_000, "milliseconds"), (1_000_000, "microseconds"), (1_000_000_000, "nanoseconds"))


def sql_str(value: str) -> str:
    """Quote a string literal for DuckDB SQL."""
    return "'" + value.replace("'", "''") + "'"


def quoted(expr: str) -> str:
    """SQL for a value in quotes, cut after ``SHOWN_CHARS`` characters."""
    return (
        f"'''' || left({expr}, {SHOWN_CHARS}) || "
        f"CASE WHEN length({expr}) > {SHOWN_CHARS} THEN '...' ELSE '' END || ''''"
    )


def whole(expr: str) -> str:
    """SQL: a number's text as a whole number (``149.0`` -> ``149``), NULL when it is not one."""
    d = f"TRY_CAST({expr} AS DOUBLE)"
    return (
        f"CASE WHEN isfinite({d}) AND {d} = floor({d}) AND abs({d}) < 9007199254740992 "
        f"THEN CAST(CAST({d} AS BIGINT) AS VARCHAR) END"
    )


def normalised(column: str) -> str:
    """SQL for a clean id: spaces trimmed, a typed source's floating-point number made whole."""
    return f"CASE WHEN {column}_kind = 'DOUBLE' THEN {whole(column)} ELSE trim({column}) END"


def _type_checks(column: str) -> list[str]:
    """CASE branches: a typed value that is not an id, or nothing at all."""
    c, kind, src = column, f"{column}_kind", f"{column}_src"
    return [
        f"WHEN {kind} IN ('OBJECT', 'ARRAY', 'BOOLEAN') "
        f"THEN '{c} is a JSON ' || lower({kind}) || ', not an id'",
        f"WHEN {kind} = 'DOUBLE' AND {c} IS NULL AND {src} IS NOT NULL "
        f"THEN '{c} ' || {quoted(src)} || ' is not a whole number'",
        f"WHEN {c} IS NULL OR {c} = '' THEN 'empty {c}'",
    ]


def _character_checks() -> str:
    """One CASE branch naming a blank id or a control character in one (one regex per row
    first; the exact tests only for rows it flags)."""
    inner = " ".join(
        f"WHEN regexp_full_match({c}, {BLANK}) THEN '{c} is only whitespace' "
        f"WHEN regexp_matches({c}, {CONTROL}) THEN '{c} contains control character ' || "
        f"printf('U+%04X', unicode(regexp_extract({c}, {CONTROL})))"
        for c in ID_COLUMNS
    )
    flagged = f"regexp_matches({' || '.join(ID_COLUMNS)}, {SUSPICIOUS})"
    return f"WHEN {flagged} AND (CASE {inner} END) IS NOT NULL THEN (CASE {inner} END)"


def _time_checks(params: EventsParams, bounds: tuple[int, int]) -> list[str]:
    """CASE branches for a missing, unparsable or implausible timestamp."""
    lo, hi = bounds
    value = quoted("ts_raw")
    checks = [
        "WHEN ts_raw IS NULL OR trim(ts_raw) = '' THEN 'empty timestamp'",
        f"WHEN t IS NULL AND regexp_full_match(trim(ts_raw), {NUMBER}) "
        f"THEN 'timestamp ' || {value} || ' is out of range'",
        f"WHEN t IS NULL THEN 'unparsable timestamp ' || {value}",
        f"WHEN t < {lo} THEN 'timestamp ' || {value} || ' is before {params.min_time}'",
    ]
    for factor, unit in _UNITS:
        checks.append(
            f"WHEN t > {hi} AND regexp_full_match(trim(ts_raw), {NUMBER}) "
            f"AND t // {factor} BETWEEN {lo} AND {hi} "
            f"THEN 'timestamp ' || {value} || ' looks like {unit}, not seconds'"
        )
    checks.append(f"WHEN t > {hi} THEN 'timestamp ' || {value} || ' is in the future'")
    return checks


def reason_sql(params: EventsParams, has_ts: bool, bounds: tuple[int, int]) -> str:
    """SQL CASE naming the first rule a parsed row breaks, or NULL when it is valid."""
    checks = ["WHEN bad IS NOT NULL THEN bad"]
    for column in ID_COLUMNS:
        checks += _type_checks(column)
    checks.append(_character_checks())
    checks += [
        f"WHEN length({c}) > {MAX_ID_LENGTH} THEN '{c} is ' || length({c}) || "
        f"' characters long (at most {MAX_ID_LENGTH})'"
        for c in ID_COLUMNS
    ]
    if params.actions:
        allowed = ", ".join(sql_str(a) for a in params.actions)
        checks.append(
            f"WHEN action NOT IN ({allowed}) THEN 'unknown action ' || {quoted('action')}"
        )
    if has_ts:
        checks += _time_checks(params, bounds)
    return "CASE " + " ".join(checks) + " END"


def rename_sql(params: EventsParams) -> str:
    """SQL expression mapping raw action names (already normalised) to canonical ones."""
    action = normalised("action")
    if not params.rename_actions:
        return action
    whens = " ".join(
        f"WHEN {sql_str(k)} THEN {sql_str(v)}" for k, v in params.rename_actions.items()
    )
    return f"CASE {action} {whens} ELSE {action} END"


def checked_sql(
    params: EventsParams,
    has_ts: bool,
    bounds: tuple[int, int],
    seq_offset: int,
    row: str = "rowid",
) -> str:
    """The ``raw`` table (or view) with clean columns, ``t``, the row's 1-based line and its
    reject reason; ``row``: the 0-based row number in the file (a table's ``rowid``, or a
    column of the view)."""
    t_expr = TS_SQL if has_ts else f"({row} + {seq_offset})"
    sources = ", ".join(f"{c} AS {c}_src, {c}_kind" for c in ID_COLUMNS)
    return (
        f"(SELECT *, {reason_sql(params, has_ts, bounds)} AS reason FROM (SELECT {row} AS ord, "
        f"coalesce(line, {row} + 1) AS line, last, raw_line, bad, {sources}, "
        f"{normalised('user_id')} AS user_id, {rename_sql(params)} AS action, "
        f"{normalised('item_id')} AS item_id, ts_raw, {t_expr} AS t FROM raw))"
    )
