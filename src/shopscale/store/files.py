"""Result files written atomically: a temp name in the same folder, then one rename.

A crash mid-write leaves the previous file untouched and at most a ``.tmp-*`` file behind.
Each writer passes the fault point ``write:<file name>`` once its data is half out (after
the first batch), for the fault-injection tests (``store.faults``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shopscale.store.faults import fault_point

FileFormat = Literal["parquet", "csv", "jsonl"]


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it over ``path`` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_batches(
    path: Path, batches: Iterable[pa.RecordBatch], schema: pa.Schema, fmt: FileFormat = "parquet"
) -> int:
    """Stream record batches into one file of the given format; return rows written."""
    rows = 0
    point = f"write:{path.name}"
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
                for batch in batches:
                    writer.write_batch(batch, row_group_size=1_000_000)
                    rows += batch.num_rows
                    fault_point(point)
        elif fmt == "csv":
            with pacsv.CSVWriter(tmp, schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
                    fault_point(point)
        elif fmt == "jsonl":
            with tmp.open("w", encoding="utf-8") as fh:
                for batch in batches:
                    for row in batch.to_pylist():
                        fh.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
                    rows += batch.num_rows
                    fault_point(point)
        else:
            raise ValueError(f"unknown format {fmt!r}")
        fault_point(point)  # an empty table has no batch
    return rows


def write_table(path: Path, table: pa.Table, fmt: FileFormat = "csv") -> int:
    """Write a whole (small) table atomically."""
    return write_batches(path, table.to_batches(), table.schema, fmt)


def write_json(path: Path, obj: Any) -> None:
    """Write a JSON document atomically, keys in a stable order; NaN or infinity raises
    ValueError (they are not JSON, and would break every strict reader)."""
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        fault_point(f"write:{path.name}")


def read_batches(path: Path, batch_size: int = 500_000) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet file back as record batches (to load it into a database)."""
    yield from pq.ParquetFile(path).iter_batches(batch_size=batch_size)


def output_name(stem: str, fmt: FileFormat) -> str:
    """``recommendations`` + ``csv`` -> ``recommendations.csv``."""
    return f"{stem}.{fmt}"
