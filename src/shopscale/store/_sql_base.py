"""What the SQL store's two backends share: the parsed URL, the load plan, errors, SQL names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

import pyarrow as pa

from shopscale.errors import ConfigError, ShopscaleError

Dialect = Literal["sqlite", "postgresql"]
NAME_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")
STAGING_SUFFIX = "__new"


class StoreError(ShopscaleError):
    """The SQL store failed (cannot connect, no such table, load rejected); names the URL."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = one_line(reason)
        super().__init__(f"{url}: {self.reason}")


@dataclass(frozen=True)
class SqlUrl:
    """A parsed store URL: the dialect, what the driver opens, and a password-free display form."""

    dialect: Dialect
    target: str  # the SQLite file path, or the libpq connection URL for PostgreSQL
    display: str  # the URL with any password masked; the only form that goes into messages
    secrets: tuple[str, ...] = field(default=(), repr=False)  # passwords to mask in messages

    def error(self, reason: str) -> StoreError:
        """A StoreError naming this URL, with any password in the (driver's) reason masked."""
        return StoreError(self.display, redact(reason, self.secrets))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` on one line with every secret (raw or percent-decoded) replaced by ***."""
    text = one_line(text)
    for secret in secrets:
        for form in {secret, unquote(secret)}:
            text = text.replace(form, "***")
    return text


@dataclass(frozen=True)
class TablePlan:
    """One table to replace: its name, Arrow schema, index columns and conformed record batches."""

    name: str
    schema: pa.Schema
    index: tuple[str, ...]
    batches: Iterable[pa.RecordBatch]


def one_line(text: str) -> str:
    """Collapse a (driver) message to one line so errors print as one line."""
    return " ".join(str(text).split())


def quote(name: str) -> str:
    """Quote an identifier that ``check_name`` accepted (so it holds no quote character)."""
    return f'"{name}"'


def check_name(name: str, *, source: str, key: str) -> str:
    """Return ``name`` when it is a plain lower-case SQL identifier, else raise ConfigError."""
    if not NAME_PATTERN.fullmatch(name) or len(name) > 40:
        raise ConfigError(source, key, f"{name!r} is not a lower-case identifier [a-z_][a-z0-9_]*")
    return name


def staging_name(name: str) -> str:
    """The table a new version of ``name`` is loaded into before the swap."""
    return f"{name}{STAGING_SUFFIX}"


def index_name(table: str, columns: tuple[str, ...]) -> str:
    """The name of the index on ``columns`` of ``table``."""
    return f"{table}_{'_'.join(columns)}_idx"


def column_list(schema: pa.Schema) -> str:
    """The quoted, comma-separated column names of ``schema``."""
    return ", ".join(quote(name) for name in schema.names)


_SQL_TYPES: dict[pa.DataType, tuple[str, str]] = {
    pa.string(): ("TEXT", 'text COLLATE "C"'),
    pa.large_string(): ("TEXT", 'text COLLATE "C"'),
    pa.bool_(): ("INTEGER", "boolean"),
    pa.int8(): ("INTEGER", "smallint"),
    pa.int16(): ("INTEGER", "smallint"),
    pa.int32(): ("INTEGER", "integer"),
    pa.int64(): ("INTEGER", "bigint"),
    pa.uint8(): ("INTEGER", "smallint"),
    pa.uint16(): ("INTEGER", "integer"),
    pa.uint32(): ("INTEGER", "bigint"),
    pa.float32(): ("REAL", "real"),
    pa.float64(): ("REAL", "double precision"),
}


def check_types(table: str, schema: pa.Schema) -> None:
    """Raise ConfigError for a column whose Arrow type the store cannot hold."""
    for column in schema:
        check_name(column.name, source="schemas", key=table)
        if column.type not in _SQL_TYPES:
            supported = "string, bool, int8..int64, uint8..uint32, float32, float64"
            reason = f"column {column.name!r} has type {column.type}; supported: {supported}"
            raise ConfigError("schemas", table, reason)


def create_table_sql(dialect: Dialect, table: str, schema: pa.Schema) -> str:
    """``CREATE TABLE`` for ``schema``; non-nullable fields become ``NOT NULL`` columns."""
    position = 0 if dialect == "sqlite" else 1
    columns = [
        f"{quote(f.name)} {_SQL_TYPES[f.type][position]}{'' if f.nullable else ' NOT NULL'}"
        for f in schema
    ]
    return f"CREATE TABLE {quote(table)} ({', '.join(columns)})"


def create_index_sql(name: str, table: str, columns: tuple[str, ...]) -> str:
    """``CREATE INDEX`` named ``name`` on ``columns`` of ``table``."""
    return f"CREATE INDEX {quote(name)} ON {quote(table)} ({', '.join(map(quote, columns))})"
