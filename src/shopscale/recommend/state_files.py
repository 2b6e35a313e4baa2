"""The model state's big tables on disk: one NumPy ``.npy`` file per column (formats 2 and 3).

``history``, ``excluded`` and ``pairs`` hold millions of integer rows that an update reads
whole and writes whole: raw little-endian columns load and store at disk speed (no encoding,
no compression pass), and any engine reads them (``numpy.load``; NPY is a 128-byte header and
the raw array). Format 1 stored the same columns as Parquet (``<table>.parquet``); it is still
read (docs/model.md, "Format versions").
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from shopscale.errors import ShopscaleError
from shopscale.store.files import PacedFile, atomic_path, read_parquet

TABLES: dict[str, dict[str, type[np.integer]]] = {
    "history": {"u": np.int32, "a": np.int8, "i": np.int32, "t": np.int64},
    "excluded": {"u": np.int32, "i": np.int32},
    "pairs": {"indptr": np.int64, "j": np.int32, "k11": np.int32},
}
"""Each big table's columns and their types (``<table>/<column>.npy``). ``pairs`` is one CSR
over rows ``c * n_items + i`` (format 3): what the counts are in memory, so it loads and
stores with no conversion, 8 bytes a pair."""
PAIR_ROWS: dict[str, type[np.integer]] = {
    "c": np.int16,
    "i": np.int32,
    "j": np.int32,
    "k11": np.int32,
}
"""Formats 1 and 2 stored the pairs as rows (c, i, j, k11) sorted by (c, i, j)."""

Columns = dict[str, npt.NDArray]


def write_columns(folder: Path, table: str, columns: Columns) -> None:
    """``folder/table/<column>.npy`` for every column of ``table``, each written atomically."""
    for name, dtype in TABLES[table].items():
        path = folder / table / f"{name}.npy"
        with atomic_path(path) as tmp, PacedFile(tmp) as fh:
            np.save(fh, np.ascontiguousarray(columns[name], dtype=dtype), allow_pickle=False)


def stream_columns(
    folder: Path, table: str, n_rows: int, batches: Iterable[pa.RecordBatch]
) -> None:
    """Write ``n_rows`` rows arriving as record batches into ``table``'s column files without
    holding them in memory (each file is memory-mapped and filled in place)."""
    with ExitStack() as stack:
        outs = {}
        for name, dtype in TABLES[table].items():
            tmp = stack.enter_context(atomic_path(folder / table / f"{name}.npy"))
            outs[name] = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n_rows,))
        at = 0
        for batch in batches:
            for name, out in outs.items():
                out[at : at + batch.num_rows] = batch.column(name).to_numpy()
            at += batch.num_rows
        if at != n_rows:
            raise ShopscaleError(f"{folder / table}: {at} rows streamed, {n_rows} expected")
        for out in outs.values():
            out.flush()
        del outs


def columns_of(table: str, version: int) -> dict[str, type[np.integer]]:
    """The columns ``table`` has in format ``version``."""
    return PAIR_ROWS if table == "pairs" and version < 3 else TABLES[table]


def read_columns(folder: Path, table: str, version: int) -> Columns:
    """Every column of ``table`` as a NumPy array of its type (format 1: from Parquet)."""
    columns = columns_of(table, version)
    if version >= 2:
        return {
            name: _load(folder / table / f"{name}.npy", dtype) for name, dtype in columns.items()
        }
    single = folder / f"{table}.parquet"  # a Spark-built model: a folder of parts instead
    t = read_parquet(single if single.exists() else folder / table)
    return {
        name: np.asarray(t.column(name).to_numpy()).astype(dtype, copy=False)
        for name, dtype in columns.items()
    }


def _load(path: Path, dtype: type[np.integer]) -> npt.NDArray:
    """One column file, checked to be a 1-d array of the expected type."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ShopscaleError(f"{path}: unreadable model column ({exc})") from None
    if arr.ndim != 1 or arr.dtype != np.dtype(dtype):
        raise ShopscaleError(f"{path}: expected a 1-d {np.dtype(dtype)} column, got {arr.dtype}")
    return arr
