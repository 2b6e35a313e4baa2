"""Result files written atomically: a temp name in the same folder, then one rename.

A crash mid-write leaves the previous file untouched and at most a ``.tmp-*`` file behind.
Each writer passes the fault point ``write:<file name>`` once its data is half out (after
the first batch), for the fault-injection tests (``store.faults``).

Large files go to disk as they are written (``PacedFile``), a few MiB at a time: a file
system with a journal (ext4, XFS) commits one transaction for everyone, so one fsync of
hundreds of MiB written at once holds every other fsync on that disk for a second or more,
among them the service's write-ahead log, which acknowledges each posted event after its
fsync (measured: a 100-byte fsync took 1.07 s during a 600 MiB fsync, and 4 ms otherwise).
Large files leave the same way (``remove_paced``): on a file system mounted with ``discard``
the journal commit after a big delete trims every freed block first (a 600 MiB delete held
other fsyncs for 0.45 s; deleted 32 MiB at a time, none waited 30 ms).
"""

from __future__ import annotations

import io
import itertools
import json
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
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


PACE_BYTES = 8 << 20
"""A ``PacedFile`` flushes its data to disk each time this much more has been written."""


class PacedFile(io.RawIOBase):
    """A binary file opened for writing that flushes its data to disk (``fdatasync``) every
    ``PACE_BYTES``: the disk keeps up with the writer, so the fsync that publishes the file
    (and any other process's fsync meanwhile) waits for at most that much data."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._fh = open(path, "wb")  # noqa: SIM115 (closed by close())
        self._dirty = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        """Write all of ``data``, in pieces of at most ``PACE_BYTES``."""
        view = memoryview(data).cast("B")
        for lo in range(0, len(view), PACE_BYTES):
            piece = view[lo : lo + PACE_BYTES]
            self._fh.write(piece)
            self._dirty += len(piece)
            if self._dirty >= PACE_BYTES:
                self._sync()
        return len(view)

    def _sync(self) -> None:
        self._fh.flush()
        os.fdatasync(self._fh.fileno())
        self._dirty = 0

    def close(self) -> None:
        """Flush what is left to disk and close."""
        if not self.closed:
            try:
                self._sync()
            finally:
                self._fh.close()
        super().close()


def remove_paced(path: Path, *, ignore_errors: bool = False) -> None:
    """Remove a file or a folder tree like ``shutil.rmtree``, each large file cut down a
    ``PACE_BYTES`` x 4 at a time (each cut made durable) before it is unlinked: what the disk
    frees is then trimmed in small steps, not in one commit every other fsync waits for."""
    try:
        if path.is_symlink() or not path.is_dir():
            _remove_file_paced(path)
            return
        for folder, _, files in os.walk(path, topdown=False):
            for name in files:
                _remove_file_paced(Path(folder) / name)
        shutil.rmtree(path)
    except OSError:
        if not ignore_errors:
            raise


def _remove_file_paced(path: Path) -> None:
    step = 4 * PACE_BYTES
    try:
        size = path.lstat().st_size
        if size > step and not path.is_symlink():
            fd = os.open(path, os.O_WRONLY)
            try:
                while size > 0:
                    size = max(0, size - step)
                    os.ftruncate(fd, size)
                    os.fsync(fd)
            finally:
                os.close(fd)
        path.unlink()
    except FileNotFoundError:
        pass


def write_behind(write: Callable[[pa.RecordBatch], None], batches: Iterable[pa.RecordBatch]) -> int:
    """Call ``write`` on every batch on a second thread while this thread produces the next
    ones (Parquet encoding and compression release the GIL, so producing and writing share
    the cores); at most two batches wait. Returns the rows written. An error on either side
    stops both and is raised here, after the writer has stopped."""
    waiting: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=2)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            while (batch := waiting.get()) is not None:
                write(batch)
        except BaseException as exc:
            failed.append(exc)
            while waiting.get() is not None:  # let the producer finish its puts
                pass

    writer = threading.Thread(target=run, name="write-behind", daemon=True)
    writer.start()
    rows = 0
    try:
        for batch in batches:
            if failed:
                break
            waiting.put(batch)
            rows += batch.num_rows
    finally:
        waiting.put(None)
        writer.join()
    if failed:
        raise failed[0]
    return rows


def parquet_options(
    schema: pa.Schema, statistics: Sequence[str] | None, plain: Sequence[str] = ()
) -> dict[str, Any]:
    """How every output Parquet file is written (both engines): zstd; statistics on the
    ``statistics`` columns only (None: all); a dictionary for every column but ``plain``
    ones. A column of near-unique values (the lists' scores) is worth no dictionary: the
    writer builds one per page, finds it too big and drops it, which took half the time of
    writing the recommendations of a 100M-event log; its plain pages are smaller, too."""
    coded = [name for name in schema.names if name not in plain]
    options: dict[str, Any] = {"compression": "zstd", "use_dictionary": coded}
    options["write_statistics"] = True if statistics is None else list(statistics)
    return options


DICT_PAGE_LIMIT = 64 << 20
"""Largest Parquet dictionary page of a column written from dictionary arrays (at most a
batch's distinct ids; Parquet's default, 1 MiB, is less than 110k item ids)."""


def encoded_schema(schema: pa.Schema, names: tuple[str, ...]) -> pa.Schema:
    """``schema`` with the string columns ``names`` as dictionary<int32, string>."""
    for name in names:
        at = schema.get_field_index(name)
        schema = schema.set(at, pa.field(name, pa.dictionary(pa.int32(), pa.string())))
    return schema


def write_batches(
    path: Path,
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    fmt: FileFormat = "parquet",
    *,
    statistics: Sequence[str] | None = None,
    plain: Sequence[str] = (),
) -> int:
    """Stream record batches into one file of the given format; return rows written.

    ``statistics``: the columns whose Parquet statistics (min/max per page and row group) are
    written (None: all); a reader's filters skip data only on the columns it filters by, and
    the statistics of a high-cardinality id column cost more to write than the rest of a file.

    String columns of ``schema`` that the batches hold as dictionary arrays (the local
    engine's ids: ``engine.local.similar.named``) go into Parquet as they are: the writer
    neither decodes nor hashes them again, and no Arrow schema is stored, so the file reads
    back as the plain strings of ``schema``. Other formats get them decoded."""
    rows = 0
    point = f"write:{path.name}"
    batches = iter(batches)
    first = next(batches, None)
    if first is not None:
        batches = itertools.chain([first], batches)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            options = parquet_options(schema, statistics, plain)
            encoded = _encoded_ids(first.schema, schema) if first is not None else ()
            if encoded:
                schema = encoded_schema(schema, encoded)
                options |= {"store_schema": False, "dictionary_pagesize_limit": DICT_PAGE_LIMIT}
            with PacedFile(tmp) as out, pq.ParquetWriter(out, schema, **options) as writer:

                def write(batch: pa.RecordBatch) -> None:
                    writer.write_batch(batch, row_group_size=1_000_000)
                    fault_point(point)

                rows = write_behind(write, batches)
        elif fmt == "csv":
            with PacedFile(tmp) as out, pacsv.CSVWriter(out, schema) as csv_writer:
                for batch in _decoded(batches, schema):
                    csv_writer.write_batch(batch)
                    rows += batch.num_rows
                    fault_point(point)
        elif fmt == "jsonl":
            with tmp.open("w", encoding="utf-8") as fh:
                for batch in _decoded(batches, schema):
                    for row in batch.to_pylist():
                        fh.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")
                    rows += batch.num_rows
                    fault_point(point)
        else:
            raise ValueError(f"unknown format {fmt!r}")
        fault_point(point)  # an empty table has no batch
    return rows


def _encoded_ids(given: pa.Schema, schema: pa.Schema) -> tuple[str, ...]:
    """Columns that ``schema`` has as strings and the batches as dictionary<int32, string>."""
    want = pa.dictionary(pa.int32(), pa.string())
    return tuple(
        f.name for f in given if f.type == want and schema.field(f.name).type == pa.string()
    )


def _decoded(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Batches in ``schema`` (dictionary arrays decoded to their values)."""
    for batch in batches:
        yield batch if batch.schema == schema else batch.cast(schema)


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


def read_parquet(path: Path) -> pa.Table:
    """A Parquet file whole, or a folder of part files (a distributed engine's). A single
    file is read without ``pyarrow.dataset``, whose import alone costs 0.3 s at start-up."""
    if Path(path).is_dir():
        return pq.read_table(path)
    return pq.ParquetFile(path).read()


def read_batches(path: Path, batch_size: int = 500_000) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet file back as record batches (to load it into a database)."""
    yield from pq.ParquetFile(path).iter_batches(batch_size=batch_size)


def output_name(stem: str, fmt: FileFormat) -> str:
    """``recommendations`` + ``csv`` -> ``recommendations.csv``."""
    return f"{stem}.{fmt}"
