"""PostgreSQL binary ``COPY`` data built from Arrow record batches with NumPy, no per-row Python.

The binary format (PostgreSQL docs, "COPY", "Binary Format"): a signature and header, then per
row a big-endian int16 field count and, per field, an int32 byte length (-1 for NULL) followed by
the value in the type's binary send format (big-endian integers and IEEE floats, UTF-8 text,
one byte for booleans); a trailer of int16 -1 ends the data. Floats travel bit-exact.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"

# Arrow type -> big-endian NumPy type of the PostgreSQL column it loads into (see _sql_base).
_FIXED: dict[pa.DataType, str] = {
    pa.bool_(): "u1",
    pa.int8(): ">i2",
    pa.int16(): ">i2",
    pa.int32(): ">i4",
    pa.int64(): ">i8",
    pa.uint8(): ">i2",
    pa.uint16(): ">i4",
    pa.uint32(): ">i8",
    pa.float32(): ">f4",
    pa.float64(): ">f8",
}


def encode_batch(batch: pa.RecordBatch) -> bytes:
    """The rows of ``batch`` in COPY binary format (no signature, no trailer)."""
    n = batch.num_rows
    fields = [_field(column) for column in batch.columns]
    sizes = [np.maximum(lengths, 0) for lengths, _, _ in fields]
    row_size = 2 + 4 * len(fields) + sum((s for s in sizes), np.zeros(n, np.int64))
    pos = (np.cumsum(row_size) - row_size).astype(np.int64)  # where each row starts
    out = np.empty(int(row_size.sum()), np.uint8)
    _scatter_fixed(out, pos, np.full(n, len(fields), ">i2"))
    pos = pos + 2
    for (lengths, data, starts), size in zip(fields, sizes, strict=True):
        _scatter_fixed(out, pos, lengths.astype(">i4"))
        pos = pos + 4
        _scatter(out, pos, data, starts, size)
        pos = pos + size
    return out.tobytes()


def _field(column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Byte lengths (-1 for NULL), the value bytes, and where each row's value starts in them."""
    valid = (
        np.ones(len(column), bool)
        if column.null_count == 0
        else column.is_valid().to_numpy(zero_copy_only=False)
    )
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        lengths, data, starts = _text(column)
        return np.where(valid, lengths, -1), data, starts
    dtype = np.dtype(_FIXED[column.type])
    values = pc.fill_null(column, False if pa.types.is_boolean(column.type) else 0)
    raw = np.ascontiguousarray(values.to_numpy(zero_copy_only=False).astype(dtype))
    lengths = np.where(valid, dtype.itemsize, -1).astype(np.int64)
    starts = np.arange(len(column), dtype=np.int64) * dtype.itemsize
    return lengths, raw.view(np.uint8), starts


def _text(column: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A (large) string array's value lengths, UTF-8 bytes and value starts, read in place."""
    offset_type = np.dtype(np.int64 if pa.types.is_large_string(column.type) else np.int32)
    _, offsets_buf, data_buf = column.buffers()
    skip = column.offset * offset_type.itemsize  # a slice starts inside the buffers
    offsets = np.frombuffer(offsets_buf, offset_type, len(column) + 1, skip).astype(np.int64)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    return np.diff(offsets), data, offsets[:-1]


def _scatter_fixed(out: np.ndarray, pos: np.ndarray, values: np.ndarray) -> None:
    """Write each row's fixed-width big-endian ``values`` entry at ``out[pos[row]:]``."""
    width = values.dtype.itemsize
    out[pos[:, None] + np.arange(width)] = values.view(np.uint8).reshape(len(values), width)


def _scatter(
    out: np.ndarray, pos: np.ndarray, data: np.ndarray, starts: np.ndarray, sizes: np.ndarray
) -> None:
    """Copy ``data[starts[r] : starts[r] + sizes[r]]`` to ``out[pos[r]:]`` for every row ``r``."""
    total = int(sizes.sum())
    if total == 0:
        return
    first = np.cumsum(sizes) - sizes  # where each row's bytes begin in the gathered sequence
    within = np.arange(total, dtype=np.int64) - np.repeat(first, sizes)
    out[np.repeat(pos, sizes) + within] = data[np.repeat(starts, sizes) + within]
