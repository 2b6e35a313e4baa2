"""Id encoding: string ids <-> dense int32 codes.

Ids can hold more than 2 GiB of text (a billion-event log's users): an Arrow ``string`` array
cannot, so ``id_array`` keeps such ids as ``large_string`` and ``IdMap.decode`` always gives
``string`` arrays (a batch of output rows never nears the limit).

A batch run gives codes in string order (``IdMap``), so its "ties broken by id" rules can
compare codes. A stored model's codes are append-only (``append_ids``): an update appends new
ids and never renumbers old ones, so before ranking it maps codes to string order
(``string_order``) and the same rules compare the ids' string order again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

STRING_LIMIT = 2**31 - 1
"""Most bytes of text one Arrow ``string`` array can hold (32-bit offsets)."""


def id_array(column: Any, *, limit: int = STRING_LIMIT) -> pa.Array:
    """One array of the ids of a table's first column (or a (chunked) array): ``string``
    while the text fits ``limit`` bytes, else ``large_string``."""
    if isinstance(column, pa.Table):
        column = column.column(0)
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    text = sum(_text_bytes(c) for c in chunks)
    kind = pa.string() if text <= limit else pa.large_string()
    if not chunks:
        return pa.array([], kind)
    return pa.concat_arrays([c.cast(kind) for c in chunks])


def _text_bytes(chunk: pa.Array) -> int:
    """Bytes of text of one string chunk (its last offset minus its first)."""
    if len(chunk) == 0:
        return 0
    return int(pc.sum(pc.binary_length(chunk)).as_py() or 0)


@dataclass(frozen=True)
class IdMap:
    """The sorted distinct ids of one kind (users or items); code k is ``ids[k]``."""

    ids: pa.Array

    def __post_init__(self) -> None:
        if len(self.ids) > 1:
            ordered = pc.all(pc.less(self.ids[:-1], self.ids[1:])).as_py()
            if not ordered:
                raise ValueError("IdMap ids must be strictly increasing")

    def __len__(self) -> int:
        return len(self.ids)

    def decode(self, codes: npt.NDArray[np.integer]) -> pa.Array:
        """The string ids of the given codes."""
        taken = self.ids.take(pa.array(codes, type=pa.int32()))
        return taken.cast(pa.string()) if taken.type != pa.string() else taken

    def dictionary(self, codes: npt.NDArray[np.integer]) -> pa.DictionaryArray:
        """The ids of ``codes`` as a dictionary array whose dictionary is the distinct ids
        used, in code order: deterministic (the same codes give the same bytes), and a
        Parquet writer takes it as it is, with no gather of every row's text and no hashing
        of it again (``store.files.write_batches``)."""
        # over the span of codes used only: a shard's users, a run of items (not every id)
        lo = int(codes.min()) if codes.size else 0
        span = int(codes.max()) + 1 - lo if codes.size else 0
        local = codes - lo
        used = np.zeros(span, dtype=bool)
        used[local] = True
        distinct = np.flatnonzero(used)
        remap = np.zeros(span, dtype=np.int32)
        remap[distinct] = np.arange(distinct.size, dtype=np.int32)
        values = self.ids.take(pa.array(distinct + lo))
        if values.type != pa.string():
            values = values.cast(pa.string())
        return pa.DictionaryArray.from_arrays(pa.array(remap[local]), values)

    def encode(self, values: list[str]) -> npt.NDArray[np.int32]:
        """Codes of known ids (-1 for unknown ones)."""
        idx = pc.index_in(pa.array(values, type=self.ids.type), value_set=self.ids)
        return np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int32)


def append_ids(ids: pa.Array, values: pa.Array) -> pa.Array:
    """``ids`` followed by the distinct ``values`` not in it yet, in string order.

    Append-only codes: code k keeps meaning ``ids[k]`` for every k that existed before, so a
    stored model never renumbers; the newcomers are appended in string order (deterministic).
    """
    ids = ids if ids.type in (pa.string(), pa.large_string()) else ids.cast(pa.string())
    fresh = pc.unique(values.cast(ids.type))
    fresh = fresh.filter(pc.invert(pc.is_in(fresh, value_set=ids)))
    fresh = fresh.take(pc.sort_indices(fresh))
    if not len(fresh):
        return ids
    return id_array(pa.chunked_array([ids, fresh], ids.type))


def string_order(ids: pa.Array) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """(order, rank) of append-only codes: ``order[r]`` is the code of the r-th id in string
    order and ``rank[code]`` its position, so "ties by id" rules compare ``rank``, not codes.

    Arrow compares strings bytewise (UTF-8 byte order = code point order), the order DuckDB's
    ``ORDER BY`` gives the batch job's codes, so a fresh model's rank is the identity.
    """
    order = np.asarray(pc.sort_indices(ids).to_numpy(), dtype=np.int32)
    rank = np.empty(order.size, dtype=np.int32)
    rank[order] = np.arange(order.size, dtype=np.int32)
    return order, rank
