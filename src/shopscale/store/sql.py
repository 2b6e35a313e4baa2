"""SQL result store: replace result tables atomically in SQLite or PostgreSQL and read them back.

URLs: ``sqlite:///relative/path.sqlite``, ``sqlite:////absolute/path.sqlite`` and
``postgresql://user[:password]@host[:port]/db[?param=value]`` (any libpq URL, ``postgres://`` too).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import pyarrow as pa

from shopscale.engine import base
from shopscale.errors import ConfigError, InputError
from shopscale.log import get_logger, timed
from shopscale.store._sql_base import (
    SqlUrl,
    StoreError,
    TablePlan,
    check_name,
    check_types,
    redact,
)

__all__ = [
    "RECOMMENDATIONS_SCHEMA",
    "SCHEMAS",
    "SIMILAR_ITEMS_SCHEMA",
    "SqlUrl",
    "StoreError",
    "parse_url",
    "read_recommendations",
    "read_similar",
    "write_tables",
]

log = get_logger("store.sql")


def _required(schema: pa.Schema) -> pa.Schema:
    """The same columns, none of them nullable (database columns are NOT NULL)."""
    return pa.schema([f.with_nullable(False) for f in schema])


# One definition of the output tables (engine/base.py); the store only makes them NOT NULL.
RECOMMENDATIONS_SCHEMA = _required(base.RECOMMENDATIONS_SCHEMA)
SIMILAR_ITEMS_SCHEMA = _required(base.SIMILAR_ITEMS_SCHEMA)
SCHEMAS: Mapping[str, pa.Schema] = {
    "recommendations": RECOMMENDATIONS_SCHEMA,
    "similar_items": SIMILAR_ITEMS_SCHEMA,
}
INDEXES: Mapping[str, tuple[str, ...]] = {
    "recommendations": ("user_id", "rank"),
    "similar_items": ("item_id", "action", "rank"),
}
TableData: TypeAlias = pa.Table | Iterable[pa.RecordBatch]
BATCH_ROWS = 65_536  # rows per insert/COPY chunk: bounds memory, amortises per-call overhead
_SQLITE_PREFIX = "sqlite:///"
_MASK = "***"


def parse_url(url: str) -> SqlUrl:
    """Parse a store URL into dialect and driver target; anything else is a ConfigError."""
    display, secrets = mask_password(url), _secrets(url)
    if url.startswith(_SQLITE_PREFIX):
        path = url.removeprefix(_SQLITE_PREFIX)
        if not path or path == ":memory:" or "?" in path:
            reason = "give a file path: sqlite:///relative.sqlite or sqlite:////abs/path.sqlite"
            raise ConfigError(display, "url", reason)
        return SqlUrl("sqlite", path, display, secrets)
    if url.startswith(("postgresql://", "postgres://")):
        _check_libpq_url(url, display, secrets)
        return SqlUrl("postgresql", url, display, secrets)
    reason = "expected sqlite:///path.sqlite or postgresql://user@host:port/db"
    raise ConfigError(display, "url", reason)


def mask_password(url: str) -> str:
    """The URL with the password (in the user part or a password= parameter) replaced by ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # e.g. a broken IPv6 host: mask anything between "user:" and "@"
        return re.sub(r"(://[^:/@]*):[^@]*@", rf"\1:{_MASK}@", url)
    masked = url
    if password:
        user, _, host = parts.netloc.rpartition("@")
        masked = masked.replace(parts.netloc, f"{user.partition(':')[0]}:{_MASK}@{host}", 1)
    if "password=" in parts.query:
        query = re.sub(r"(^|&)password=[^&]*", rf"\1password={_MASK}", parts.query)
        masked = masked.replace(parts.query, query, 1)
    return masked


def _secrets(url: str) -> tuple[str, ...]:
    """The passwords written in the URL (user part and password= parameters)."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
    except ValueError:
        return tuple(re.findall(r"://[^:/@]*:([^@]+)@", url))
    found += re.findall(r"(?:^|&)password=([^&]*)", parts.query)
    return tuple(secret for secret in found if secret)


def _check_libpq_url(url: str, display: str, secrets: tuple[str, ...]) -> None:
    """Raise ConfigError naming the (masked) URL unless libpq can parse it."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except ProgrammingError as err:
        detail = redact(str(err).replace(url, display), secrets)
        reason = f"not a valid PostgreSQL URL ({detail})"
        raise ConfigError(display, "url", reason) from None


def write_tables(
    url: str,
    tables: Mapping[str, TableData],
    *,
    schemas: Mapping[str, pa.Schema] | None = None,
) -> None:
    """Replace each named table atomically: load into a temp table, index it, swap in one commit.

    All tables of one call are swapped in the same transaction; if anything fails (including
    the caller's batch iterator raising), every previous table stays as it was. ``schemas``
    overrides or adds table schemas; a table with no known schema takes its data's schema.
    """
    target = parse_url(url)
    if not tables:
        return
    plans = [_plan(name, data, (schemas or {}).get(name)) for name, data in tables.items()]
    with timed(log, f"write {', '.join(tables)} to {target.display}"):
        rows = _backend(target).write(target, plans)
    log.info("wrote %s", ", ".join(f"{name}: {n} rows" for name, n in rows.items()))


def read_recommendations(url: str, user_id: str) -> list[dict[str, Any]]:
    """The stored recommendations of ``user_id``, ordered by rank (empty for an unknown user)."""
    columns = ", ".join(f'"{name}"' for name in RECOMMENDATIONS_SCHEMA.names)
    sql = f'SELECT {columns} FROM "recommendations" WHERE "user_id" = {{p}} ORDER BY "rank"'
    return _query(url, sql, [user_id])


def read_similar(url: str, item_id: str, *, action: str | None = None) -> list[dict[str, Any]]:
    """The stored similar items of ``item_id`` (of one ``action`` if given), by action then rank."""
    columns = ", ".join(f'"{name}"' for name in SIMILAR_ITEMS_SCHEMA.names)
    where, params = '"item_id" = {p}', [item_id]
    if action is not None:
        where, params = f'{where} AND "action" = {{p}}', [item_id, action]
    sql = f'SELECT {columns} FROM "similar_items" WHERE {where} ORDER BY "action", "rank"'
    return _query(url, sql, params)


def _query(url: str, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Run a read query written with ``{p}`` placeholders; return rows as dicts."""
    target = parse_url(url)
    backend = _backend(target)
    names, rows = backend.query(target, sql.format(p=backend.PLACEHOLDER), params)
    return [dict(zip(names, row, strict=True)) for row in rows]


def _backend(target: SqlUrl) -> ModuleType:
    """The backend module of the URL's dialect (PostgreSQL's driver is imported only if used)."""
    if target.dialect == "sqlite":
        from shopscale.store import _sql_sqlite

        return _sql_sqlite
    from shopscale.store import _sql_postgres

    return _sql_postgres


def _plan(name: str, data: TableData, schema: pa.Schema | None) -> TablePlan:
    """Check the table name and schema; wrap the data as conformed, bounded batches."""
    check_name(name, source="tables", key=name)
    batches = _batches(data)
    if schema is None:
        schema = SCHEMAS.get(name)
    if schema is None:
        first = next(batches, None)
        if first is None:
            raise InputError(name, "no schema given and no batches to take one from")
        schema, batches = first.schema, itertools.chain([first], batches)
    check_types(name, schema)
    index = INDEXES.get(name, ())
    if not set(index) <= set(schema.names):
        index = ()
    return TablePlan(name, schema, index, _conform(name, schema, batches))


def _batches(data: TableData) -> Iterator[pa.RecordBatch]:
    """Record batches of at most BATCH_ROWS rows from a table or an iterable of batches/tables."""
    items: Iterable[pa.Table | pa.RecordBatch] = [data] if isinstance(data, pa.Table) else data
    for item in items:
        for batch in item.to_batches() if isinstance(item, pa.Table) else [item]:
            for offset in range(0, batch.num_rows, BATCH_ROWS):
                yield batch.slice(offset, BATCH_ROWS)


def _conform(
    name: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """Each batch with exactly the schema's columns, in order, cast to its types, null-checked."""
    for batch in batches:
        if not isinstance(batch, pa.RecordBatch):
            reason = f"expected pyarrow RecordBatch items, got {type(batch).__name__}"
            raise InputError(name, reason)
        missing = [n for n in schema.names if n not in batch.schema.names]
        extra = [n for n in batch.schema.names if n not in schema.names]
        if missing or extra:
            reason = f"columns differ from the schema: missing {missing}, extra {extra}"
            raise InputError(name, reason)
        yield pa.RecordBatch.from_arrays([_column(name, batch, f) for f in schema], schema=schema)


def _column(table: str, batch: pa.RecordBatch, field: pa.Field) -> pa.Array:
    """One column cast (safely) to the field's type; nulls in a NOT NULL field are an InputError."""
    column = batch.column(field.name)
    try:
        column = column.cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        reason = f"column {field.name!r}: cannot cast {column.type} to {field.type} ({err})"
        raise InputError(table, reason) from None
    if not field.nullable and column.null_count:
        raise InputError(table, f"column {field.name!r} has {column.null_count} nulls")
    return column
