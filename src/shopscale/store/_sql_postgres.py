"""PostgreSQL backend of the SQL store: binary ``COPY FROM STDIN`` per record batch, one commit.

Each batch is encoded to COPY's binary format by NumPy (``_pg_copy``), not row by row in Python:
bulk and bit-exact for floats (binary COPY was also faster than Arrow-written CSV, whose parsing
on the server dominated).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from shopscale.store._pg_copy import SIGNATURE, TRAILER, encode_batch
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

PLACEHOLDER = "%s"
CONNECT_TIMEOUT_S = 10
# Serialises concurrent writers of this store (any 64-bit number; this one spells "shopscl").
WRITE_LOCK_KEY = 0x73686F7073636C


def write(url: SqlUrl, plans: Sequence[TablePlan]) -> dict[str, int]:
    """Load every plan into its staging table and swap them all in, in one transaction."""
    try:
        with _connect(url) as conn:  # commits on success, rolls back on any exception
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            rows = {plan.name: _load(conn, plan) for plan in plans}
            for plan in plans:
                _swap(conn, plan)
    except psycopg.Error as err:
        raise url.error(f"PostgreSQL write failed: {err}") from err
    return rows


def query(url: SqlUrl, sql: str, params: Sequence[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only query; return the column names and the rows."""
    try:
        with _connect(url) as conn:
            cursor = conn.execute(sql, params)
            names = [d.name for d in cursor.description or ()]
            return names, cursor.fetchall()
    except psycopg.Error as err:
        raise url.error(f"PostgreSQL read failed: {err}") from err


def _connect(url: SqlUrl) -> psycopg.Connection[Any]:
    """Connect with a timeout (unless the URL sets one); failures become StoreError."""
    options: dict[str, Any] = {"client_encoding": "utf8"}
    if "connect_timeout" not in conninfo_to_dict(url.target):
        options["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        return psycopg.connect(url.target, **options)
    except psycopg.Error as err:
        raise url.error(f"cannot connect to PostgreSQL: {err}") from err


def _load(conn: psycopg.Connection[Any], plan: TablePlan) -> int:
    """Create the staging table, COPY every batch into it, index it; return the row count."""
    staging = staging_name(plan.name)
    conn.execute(f"DROP TABLE IF EXISTS {quote(staging)}")
    conn.execute(create_table_sql("postgresql", staging, plan.schema))
    # FREEZE is allowed because the table was created in this transaction; it spares the
    # first readers from setting hint bits on every page.
    columns = column_list(plan.schema)
    copy_sql = f"COPY {quote(staging)} ({columns}) FROM STDIN (FORMAT binary, FREEZE)"
    rows = 0
    with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
        copy.write(SIGNATURE)
        for batch in plan.batches:
            copy.write(encode_batch(batch))
            rows += batch.num_rows
        copy.write(TRAILER)
    if plan.index:
        conn.execute(create_index_sql(index_name(staging, plan.index), staging, plan.index))
    return rows


def _swap(conn: psycopg.Connection[Any], plan: TablePlan) -> None:
    """Drop the old table, rename the staging table and its index to the final names."""
    staging = staging_name(plan.name)
    conn.execute(f"DROP TABLE IF EXISTS {quote(plan.name)}")
    conn.execute(f"ALTER TABLE {quote(staging)} RENAME TO {quote(plan.name)}")
    if plan.index:
        old, new = index_name(staging, plan.index), index_name(plan.name, plan.index)
        conn.execute(f"ALTER INDEX {quote(old)} RENAME TO {quote(new)}")
