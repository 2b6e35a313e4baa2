"""Id encoding: string ids <-> dense int32 codes whose order is the ids' string order.

Because code order equals string order, every "ties broken by id" rule can compare codes.
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
