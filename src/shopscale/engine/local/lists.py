"""What rank needs per shard of users besides the kernel: each user's weighted history, and
the kernel's (users x n) lists decoded into output rows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from shopscale.engine.base import RECOMMENDATIONS_SCHEMA
from shopscale.engine.local.counts import Shard
from shopscale.engine.local.reduce import csr_from_sorted
from shopscale.ids import IdMap
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.rules import history_entries, vote_blocks
from shopscale.store.files import encoded_schema

_SOURCES = pa.array(["model", "backfill"], pa.string())
ENCODED_RECOMMENDATIONS = encoded_schema(RECOMMENDATIONS_SCHEMA, ("user_id", "item_id"))
"""The rank's output rows: the recommendations with dictionary-encoded ids."""


def weighted_history(
    shard: Shard,
    channels: list[str],
    actions: list[str],
    n_items: int,
    params: RecommendParams,
    t_ref: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """CSR users x (block*items) with each channel's weight times time and sequence
    decay (the sequence runs over the user's entries of every channel), and with
    ``repeats`` each entry's extra events in the repeat blocks (``rules.history_entries``)."""
    u, j, w = history_entries(
        shard.u,
        shard.a,
        shard.i,
        shard.t,
        actions=actions,
        channels=channels,
        n_items=n_items,
        t_ref=t_ref,
        params=params,
        n=shard.n,
    )
    m = csr_from_sorted(u, j, shard.n_users, vote_blocks(channels, params) * n_items, data=w)
    return m.indptr.astype(np.int64), m.indices, m.data.astype(np.float64)


def decode_lists(
    first_user: int,
    items: npt.NDArray,
    scores: npt.NDArray,
    source: npt.NDArray,
    user_ids: IdMap,
    item_ids: IdMap,
) -> pa.RecordBatch:
    """Flatten a shard's (users x n) lists, users from ``first_user`` on, into output rows
    whose ids are dictionary arrays of the ids used (``IdMap.dictionary``); empty slots
    (source 0) are left out."""
    n_users, n = items.shape
    filled = source.ravel() != 0
    users = np.repeat(np.arange(n_users, dtype=np.int32) + first_user, n)[filled]
    ranks = np.tile(np.arange(1, n + 1, dtype=np.int32), n_users)[filled]
    src = _SOURCES.take(pa.array(source.ravel()[filled] - 1, pa.int8()))
    return pa.RecordBatch.from_arrays(
        [
            user_ids.dictionary(users),
            pa.array(ranks, pa.int32()),
            item_ids.dictionary(items.ravel()[filled]),
            pa.array(scores.ravel()[filled], pa.float64()),
            src,
        ],
        schema=ENCODED_RECOMMENDATIONS,
    )
