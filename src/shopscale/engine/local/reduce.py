"""Reduce side of the local engine: score every co-occurring pair, keep the best per item,
and assemble the vote matrix the rank kernel reads.

Pure functions over SciPy/NumPy arrays; the math itself (LLR, classic similarities, self
conversion, pair scoring) lives in ``recommend.llr``, ``recommend.ranking`` and
``recommend.rules``, shared with every engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from shopscale.engine.local.kernels import top_k_csr
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.ranking import vote_values
from shopscale.recommend.rules import PairScoring, pair_scores, self_vote_values

__all__ = [
    "Kept",
    "PairScoring",
    "csr_from_sorted",
    "pair_scores",
    "score_channel",
    "self_votes",
    "vote_matrix",
]

REDUCE_BLOCK_NNZ = 20_000_000
"""Pairs scored at once: bounds the temporary arrays of one block (about 1 GB)."""


@dataclass(frozen=True)
class Kept:
    """One channel's kept pairs: item i, indicator j, their score (LLR or the classic
    similarity, shown in ``similar_items``) and what j votes for i with (``vote_values``)."""

    items: npt.NDArray[np.int32]
    indicators: npt.NDArray[np.int32]
    scores: npt.NDArray[np.float64]
    votes: npt.NDArray[np.float64]
    channel: int


def csr_from_sorted(
    rows: npt.NDArray[np.integer],
    cols: npt.NDArray[np.integer],
    n_rows: int,
    n_cols: int,
    data: npt.NDArray | None = None,
) -> sp.csr_matrix:
    """CSR from entries already sorted by (row, col) with no duplicates."""
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    values = np.ones(rows.size, dtype=np.int32) if data is None else data
    return sp.csr_matrix((values, cols.astype(np.int32), indptr), shape=(n_rows, n_cols))


def score_channel(
    counts: sp.csr_matrix, scoring: PairScoring, params: RecommendParams, channel: int
) -> Kept:
    """Score one channel's pair counts in row blocks; keep the top ``max_similar_per_item``
    per row with score > 0 (ties by column) and what each kept pair votes with."""
    out_r, out_c, out_s, out_v = [], [], [], []
    n_rows = counts.shape[0]
    indptr = counts.indptr
    lo = 0
    while lo < n_rows:
        hi = int(np.searchsorted(indptr, indptr[lo] + REDUCE_BLOCK_NNZ, side="right")) - 1
        hi = min(max(hi, lo + 1), n_rows)
        a, b = indptr[lo], indptr[hi]
        rows = np.repeat(np.arange(lo, hi, dtype=np.int32), np.diff(indptr[lo : hi + 1]))
        cols = counts.indices[a:b]
        scores = pair_scores(rows, cols, counts.data[a:b], scoring, params)
        block_ptr = (indptr[lo : hi + 1] - a).astype(np.int64)
        keep = top_k_csr(block_ptr, cols, scores, params.max_similar_per_item)
        out_r.append(rows[keep])
        out_c.append(cols[keep])
        out_s.append(scores[keep])
        out_v.append(
            vote_values(
                params.vote, scores[keep], counts.data[a:b][keep], scoring.right_total[cols[keep]]
            )
            if params.similarity == "llr"
            else scores[keep]
        )
        lo = hi
    if not out_r:
        empty_i, empty_f = np.zeros(0, np.int32), np.zeros(0)
        return Kept(empty_i, empty_i, empty_f, empty_f, channel)
    return Kept(
        np.concatenate(out_r),
        np.concatenate(out_c),
        np.concatenate(out_s),
        np.concatenate(out_v),
        channel,
    )


def self_votes(
    counts: sp.csr_matrix, right_total: npt.NDArray[np.int64], params: RecommendParams
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """(item, self_weight * conversion rate) of every item with a positive rate: an engaged,
    unbought item votes for itself (the diagonal of the pair counts is k11(i, i))."""
    return self_vote_values(counts.diagonal(), right_total, params)


def vote_matrix(
    kept: list[Kept],
    self_votes: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.float64], int]],
    n_items: int,
) -> sp.csr_matrix:
    """CSR (channel*items) x items: history item j of channel c votes for i with its vote;
    with self votes, item i of channel c also votes for itself."""
    rows = np.concatenate(
        [k.channel * n_items + k.indicators.astype(np.int64) for k in kept]
        + [c * n_items + items.astype(np.int64) for items, _, c in self_votes]
    )
    cols = np.concatenate([k.items for k in kept] + [items for items, _, _ in self_votes])
    vals = np.concatenate([k.votes for k in kept] + [v for _, v, _ in self_votes])
    order = np.lexsort((cols, rows))
    return csr_from_sorted(rows[order], cols[order], len(kept) * n_items, n_items, data=vals[order])
