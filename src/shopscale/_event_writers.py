"""Writers of a synthetic log's blocks to CSV, JSON lines or Parquet (``generate.write_events``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

COLUMNS = ("user_id", "action", "item_id", "timestamp")


def _write_csv(blocks: Iterator[pa.Table], sink: pa.NativeFile | BinaryIO) -> None:
    """CSV with a plain header; nothing is quoted (no value holds a comma or a quote)."""
    sink.write(",".join(COLUMNS).encode() + b"\n")
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    writer: pacsv.CSVWriter | None = None
    for block in blocks:
        if writer is None:
            writer = pacsv.CSVWriter(sink, block.schema, write_options=options)
        writer.write_table(block)
    if writer is not None:
        writer.close()


def _write_jsonl(blocks: Iterator[pa.Table], sink: pa.NativeFile | BinaryIO) -> None:
    """One JSON object a line; ids are strings, the timestamp a number."""
    for block in blocks:
        user, action, item, ts = block.columns
        line = pc.binary_join_element_wise(
            '{"user_id":"',
            user,
            '","action":"',
            action,
            '","item_id":"',
            item,
            '","timestamp":',
            pc.cast(ts, pa.string()),
            "}\n",
            "",
        ).combine_chunks()
        offsets = np.frombuffer(line.buffers()[1], dtype=np.int32, count=len(line) + 1)
        data = line.buffers()[2]
        sink.write(data.slice(int(offsets[0]), int(offsets[-1] - offsets[0])))


def _write_parquet(blocks: Iterator[pa.Table], sink: pa.NativeFile | BinaryIO) -> None:
    """Parquet (zstd), one row group per block."""
    writer: pq.ParquetWriter | None = None
    for block in blocks:
        if writer is None:
            writer = pq.ParquetWriter(sink, block.schema, compression="zstd")
        writer.write_table(block)
    if writer is not None:
        writer.close()


WRITERS: dict[str, Callable[[Iterator[pa.Table], pa.NativeFile | BinaryIO], None]] = {
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "parquet": _write_parquet,
}
