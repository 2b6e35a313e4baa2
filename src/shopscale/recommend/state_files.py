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
    "history": {"u": np.int32, "a": np.int8, "i": np.int32, "t": np.int64, "n": np.int32},
    "excluded": {"u": np.int32, "i": np.int32},
    "dropped": {"u": np.int32, "a": np.int8, "i": np.int32, "t": np.int64, "n": np.int32},
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
    holding them in memory: each column is appended to its file as the batches pass (plain
    paced writes, not a memory map, whose written pages would count as the process's own)."""
    with ExitStack() as stack:
        outs = {
            name: (_npy_out(stack, folder / table / f"{name}.npy", dtype, n_rows), dtype)
            for name, dtype in TABLES[table].items()
        }
        at = 0
        for batch in batches:
            if at + batch.num_rows > n_rows:
                break
            for name, (fh, dtype) in outs.items():
                fh.write(np.ascontiguousarray(batch.column(name).to_numpy(), dtype=dtype))
            at += batch.num_rows
        else:
            if at == n_rows:
                return
        raise ShopscaleError(f"{folder / table}: more or fewer rows streamed than {n_rows}")


def stream_csr(
    folder: Path,
    table: str,
    shape: tuple[int, int],
    blocks: Iterable[tuple[npt.NDArray[np.int64], npt.NDArray, npt.NDArray]],
) -> None:
    """Write a CSR matrix of ``shape`` (rows, stored entries) arriving as consecutive blocks of
    rows (each ``(indptr from 0, indices, data)``) into ``table``'s three column files
    (``indptr``, then the indices and the data columns), one block in memory at a time."""
    n_rows, nnz = shape
    (ptr_name, ptr_type), (idx_name, idx_type), (val_name, val_type) = TABLES[table].items()
    with ExitStack() as stack:
        ptr = _npy_out(stack, folder / table / f"{ptr_name}.npy", ptr_type, n_rows + 1)
        idx = _npy_out(stack, folder / table / f"{idx_name}.npy", idx_type, nnz)
        val = _npy_out(stack, folder / table / f"{val_name}.npy", val_type, nnz)
        ptr.write(np.zeros(1, dtype=ptr_type))
        rows = at = 0
        for indptr, indices, data in blocks:
            size = int(indptr[-1]) if indptr.size else 0
            rows += indptr.size - 1
            if rows > n_rows or at + size > nnz or indices.size != size or data.size != size:
                break
            ptr.write(np.ascontiguousarray(indptr[1:] + at, dtype=ptr_type))
            idx.write(np.ascontiguousarray(indices, dtype=idx_type))
            val.write(np.ascontiguousarray(data, dtype=val_type))
            at += size
        else:
            if rows == n_rows and at == nnz:
                return
        raise ShopscaleError(f"{folder / table}: blocks do not make a {n_rows}-row CSR of {nnz}")


def _npy_out(stack: ExitStack, path: Path, dtype: type[np.integer], n: int) -> PacedFile:
    """A paced file published at ``path`` when ``stack`` closes without an error, its NPY
    header (a 1-d array of ``n`` values, as ``numpy.save`` writes it) already written."""
    fh = stack.enter_context(PacedFile(stack.enter_context(atomic_path(path))))
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False}
    np.lib.format.write_array_header_1_0(fh, header | {"shape": (n,)})
    return fh


def columns_of(table: str, version: int, *, counted: bool = True) -> dict[str, type[np.integer]]:
    """The columns ``table`` has in format ``version`` (``counted``: with event counts, as
    from format 4 on and in a Spark run's format-1 layout)."""
    if table == "pairs" and version < 3:
        return PAIR_ROWS
    if table == "history" and not counted:
        return {k: v for k, v in TABLES[table].items() if k != "n"}
    return TABLES[table]


def read_columns(folder: Path, table: str, version: int, *, counted: bool = True) -> Columns:
    """Every column of ``table`` as a NumPy array of its type (format 1: from Parquet)."""
    columns = columns_of(table, version, counted=counted)
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
