"""SQLite backend of the SQL store: multi-row ``INSERT`` per record batch, all in one transaction.

Rows go in through ``executemany`` of a statement holding up to 200 rows (the loop over rows
runs in C, and one statement per 200 rows halves SQLite's per-row cost against one per row);
Python only converts each Arrow column to a list once. Index builds may use every core.

A database file that does not exist yet is built under a temporary name without a journal and
renamed into place when complete (a crash leaves no file at the target, only a stray temporary);
an existing file is updated in one WAL transaction, so readers keep the old snapshot meanwhile.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from shopscale.store._sql_base import (
    SqlUrl,
    TablePlan,
    column_list,
    create_index_sql,
    create_table_sql,
    index_name,
    quote,
    staging_name,
)

PLACEHOLDER = "?"
# Load settings: WAL lets readers keep the old snapshot during the load; NORMAL syncs only at
# checkpoints (a crash of the process never loses or corrupts committed data); 256 MiB page cache.
# ``threads`` lets CREATE INDEX sort on several cores.
THREADS_PRAGMA = f"PRAGMA threads={min(4, os.cpu_count() or 1)}"
LOAD_PRAGMAS = ("PRAGMA synchronous=NORMAL", "PRAGMA cache_size=-262144", THREADS_PRAGMA)
# A new file is private until its rename, so it needs no journal and no syncs while loading.
FRESH_PRAGMAS = (
    "PRAGMA journal_mode=OFF",
    "PRAGMA synchronous=OFF",
    "PRAGMA locking_mode=EXCLUSIVE",
    "PRAGMA cache_size=-262144",
    THREADS_PRAGMA,
)
ROWS_PER_STATEMENT = 200  # at most; also bounded by SQLite's limit on bound variables
BUSY_TIMEOUT_S = 30.0


def write(url: SqlUrl, plans: Sequence[TablePlan]) -> dict[str, int]:
    """Load every plan into its staging table and swap them all in, in one transaction."""
    path = Path(url.target)
    if not path.exists() and path.parent.is_dir():
        return _write_fresh(url, path, plans)
    conn = _open(url, read_only=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        for pragma in LOAD_PRAGMAS:
            conn.execute(pragma)
        return _load_all(conn, plans)
    except sqlite3.Error as err:
        raise url.error(f"SQLite write failed: {err}") from err
    finally:
        conn.close()


def _write_fresh(url: SqlUrl, path: Path, plans: Sequence[TablePlan]) -> dict[str, int]:
    """Build a new database file under a temporary name, then rename it into place."""
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    try:
        conn = _open(url, read_only=False, path=partial)
        try:
            for pragma in FRESH_PRAGMAS:
                conn.execute(pragma)
            rows = _load_all(conn, plans)
            conn.execute("PRAGMA journal_mode=DELETE")  # readers get an ordinary file
        finally:
            conn.close()
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, path)
        return rows
    except sqlite3.Error as err:
        raise url.error(f"SQLite write failed: {err}") from err
    finally:
        partial.unlink(missing_ok=True)


def _load_all(conn: sqlite3.Connection, plans: Sequence[TablePlan]) -> dict[str, int]:
    """Load and swap every plan in one transaction; roll back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = {plan.name: _load(conn, plan) for plan in plans}
        for plan in plans:
            _swap(conn, plan)
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
    return rows


def query(url: SqlUrl, sql: str, params: Sequence[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only query; return the column names and the rows."""
    conn = _open(url, read_only=True)
    try:
        cursor = conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return names, cursor.fetchall()
    except sqlite3.Error as err:
        raise url.error(f"SQLite read failed: {err}") from err
    finally:
        conn.close()


def _open(url: SqlUrl, *, read_only: bool, path: Path | None = None) -> sqlite3.Connection:
    """Open the URL's file, or ``path`` in its place (the temporary file of a new database);
    read-only opens never create it; failures become StoreError."""
    path = path or Path(url.target)
    try:
        if read_only:
            uri = f"{path.absolute().as_uri()}?mode=ro"
            return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
        if path.is_dir():
            raise sqlite3.OperationalError("the path is a directory")
        return sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
    except sqlite3.Error as err:
        raise url.error(f"cannot open SQLite database: {err}") from err


def _load(conn: sqlite3.Connection, plan: TablePlan) -> int:
    """Create the staging table, insert every batch, index it; return the row count."""
    staging = staging_name(plan.name)
    conn.execute(f"DROP TABLE IF EXISTS {quote(staging)}")
    conn.execute(create_table_sql("sqlite", staging, plan.schema))
    group = _rows_per_statement(conn, len(plan.schema))
    one, many = (_insert_sql(staging, plan.schema, k) for k in (1, group))
    rows = 0
    for batch in plan.batches:
        values = _row_matrix(batch)
        full = len(values) // group * group
        if full:
            conn.executemany(many, values[:full].reshape(-1, group * values.shape[1]).tolist())
        conn.executemany(one, values[full:].tolist())
        rows += batch.num_rows
    if plan.index:
        # SQLite cannot rename an index, so the final name is freed now (still invisible to
        # readers: they see the last committed snapshot until COMMIT).
        final = index_name(plan.name, plan.index)
        conn.execute(f"DROP INDEX IF EXISTS {quote(final)}")
        conn.execute(create_index_sql(final, staging, plan.index))
    return rows


def _rows_per_statement(conn: sqlite3.Connection, columns: int) -> int:
    """Rows per INSERT: ROWS_PER_STATEMENT unless SQLite binds too few variables for that."""
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return max(1, min(ROWS_PER_STATEMENT, limit // max(1, columns)))


def _insert_sql(table: str, schema: pa.Schema, rows: int) -> str:
    """``INSERT`` of ``rows`` rows of ``schema``'s columns into ``table``, with ``?`` marks."""
    row = f"({', '.join(PLACEHOLDER * len(schema))})"
    return f"INSERT INTO {quote(table)} ({column_list(schema)}) VALUES {', '.join([row] * rows)}"


def _row_matrix(batch: pa.RecordBatch) -> np.ndarray:
    """The batch as a rows x columns array of Python values (None for nulls), column by column."""
    values = np.empty((batch.num_rows, batch.num_columns), dtype=object)
    for k, column in enumerate(batch.columns):
        values[:, k] = column.to_pylist()
    return values


def _swap(conn: sqlite3.Connection, plan: TablePlan) -> None:
    """Drop the old table and rename the staging table to take its place."""
    conn.execute(f"DROP TABLE IF EXISTS {quote(plan.name)}")
    conn.execute(f"ALTER TABLE {quote(staging_name(plan.name))} RENAME TO {quote(plan.name)}")
