"""Id encoding: string ids <-> dense int32 codes.

A batch run gives codes in string order (``IdMap``), so its "ties broken by id" rules can
compare codes. A stored model's codes are append-only (``append_ids``): an update appends new
ids and never renumbers old ones, so before ranking it maps codes to string order
(``string_order``) and the same rules compare the ids' string order again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc


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
        return self.ids.take(pa.array(codes, type=pa.int32()))

    def encode(self, values: list[str]) -> npt.NDArray[np.int32]:
        """Codes of known ids (-1 for unknown ones)."""
        idx = pc.index_in(pa.array(values, type=pa.string()), value_set=self.ids)
        return np.asarray(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int32)


def append_ids(ids: pa.Array, values: pa.Array) -> pa.Array:
    """``ids`` followed by the distinct ``values`` not in it yet, in string order.

    Append-only codes: code k keeps meaning ``ids[k]`` for every k that existed before, so a
    stored model never renumbers; the newcomers are appended in string order (deterministic).
    """
    ids = ids.cast(pa.string()) if ids.type != pa.string() else ids
    fresh = pc.unique(values.cast(pa.string()))
    fresh = fresh.filter(pc.invert(pc.is_in(fresh, value_set=ids)))
    fresh = fresh.take(pc.sort_indices(fresh))
    return pa.concat_arrays([ids, fresh]) if len(fresh) else ids


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
