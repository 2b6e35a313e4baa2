"""Reduce side of the local engine: score every co-occurring pair, keep the best per item,
and assemble the vote matrix the rank kernel reads.

Pure functions over SciPy/NumPy arrays; the math itself (LLR, classic similarities, self
conversion, pair scoring) lives in ``recommend.llr``, ``recommend.ranking`` and
``recommend.rules``, shared with every engine.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from shopscale.engine.local.score_kernels import (
    non_decreasing,
    place_rows,
    place_votes,
    row_col_order,
    score_top_k,
)
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
    "similar_rows",
    "vote_matrix",
]


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
    counts: sp.csr_matrix,
    scoring: PairScoring,
    params: RecommendParams,
    channel: int,
    diag: int = 0,
) -> Kept:
    """Score one channel's pair counts; keep the top ``max_similar_per_item`` per row with
    score > 0 (ties by column) and what each kept pair votes with (row r is item r + ``diag``
    for the zero diagonal). One fused numba pass
    (``score_kernels.score_top_k``), bit-equal to ``pair_scores`` + ``top_k_per_row``."""
    indptr = counts.indptr.astype(np.int64)
    keep, scores = score_top_k(
        indptr,
        counts.indices,
        counts.data,
        scoring.left_total,
        scoring.right_total,
        scoring.n_users,
        method=params.similarity,
        zero_diagonal=scoring.zero_diagonal,
        k=params.max_similar_per_item,
        diag=diag,
    )
    rows = (np.searchsorted(indptr, keep, side="right") - 1).astype(np.int32)
    cols = counts.indices[keep].astype(np.int32)
    votes = (
        vote_values(params.vote, scores, counts.data[keep], scoring.right_total[cols])
        if params.similarity == "llr"
        else scores
    )
    return Kept(rows, cols, scores, votes, channel)


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
    *,
    repeats: bool = False,
) -> sp.csr_matrix:
    """CSR (channel*items) x items: history item j of channel c votes for i with its vote;
    with self votes, item i of channel c also votes for itself. With ``repeats``
    (``rules.vote_blocks``), a second block of rows per channel holds its self votes alone."""
    votes = _vote_matrix(kept, self_votes, n_items)
    return _with_repeat_rows(votes, self_votes, len(kept), n_items) if repeats else votes


def _with_repeat_rows(
    votes: sp.csr_matrix,
    self_votes: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.float64], int]],
    n_channels: int,
    n_items: int,
) -> sp.csr_matrix:
    """The vote matrix over ``n_channels * n_items`` more rows: row (n_channels + c) *
    n_items + i holds channel c's self vote of item i (if any), nothing else."""
    by_channel = sorted(self_votes, key=lambda part: part[2])
    rows = np.concatenate(
        [np.zeros(0, np.int64)] + [c * n_items + it.astype(np.int64) for it, _, c in by_channel]
    )
    cols = np.concatenate([np.zeros(0, np.int32)] + [items for items, _, _ in by_channel])
    vals = np.concatenate([np.zeros(0)] + [v for _, v, _ in by_channel])
    block = csr_from_sorted(rows, cols, n_channels * n_items, n_items, data=vals)
    indptr = np.concatenate([votes.indptr.astype(np.int64), block.indptr[1:] + votes.nnz])
    indices = np.concatenate([votes.indices, block.indices.astype(votes.indices.dtype)])
    data = np.concatenate([votes.data, block.data.astype(np.float64)])
    return sp.csr_matrix((data, indices, indptr), shape=(2 * n_channels * n_items, n_items))


def _vote_matrix(
    kept: list[Kept],
    self_votes: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.float64], int]],
    n_items: int,
) -> sp.csr_matrix:
    """``vote_matrix`` without repeat rows.

    The local reduce keeps each channel's pairs grouped by item, items ascending, and gives
    each channel's self votes once, items ascending: then every channel's rows are placed in
    one pass of its own (``place_votes``), the channels on two threads, with no sort. Pairs in
    any other order (Spark's) take two counting sorts; the matrix is the same either way."""
    n_rows = len(kept) * n_items
    own = {c: (items, values) for items, values, c in self_votes}
    none = (np.zeros(0, np.int32), np.zeros(0, np.float64))
    parts = [(k, *own.get(k.channel, none)) for k in kept]
    grouped = len(own) == len(self_votes) and set(own) <= set(range(len(kept)))
    grouped = grouped and all(
        k.channel == c and non_decreasing(k.items) and non_decreasing(items)
        for c, (k, items, _) in enumerate(parts)
    )
    if not grouped:
        return _sorted_vote_matrix(kept, self_votes, n_rows, n_items)
    counts = [
        np.bincount(k.indicators, minlength=n_items) + np.bincount(items, minlength=n_items)
        for k, items, _ in parts
    ]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    if n_rows:
        np.cumsum(np.concatenate(counts), out=indptr[1:])
    cols = np.empty(int(indptr[-1]), dtype=np.int32)
    vals = np.empty(int(indptr[-1]), dtype=np.float64)

    def place(c: int) -> None:
        k, items, values = parts[c]
        starts = indptr[c * n_items : (c + 1) * n_items].copy()
        place_votes(k.items, k.indicators, k.votes, items, values, starts, cols, vals)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(place, range(len(parts))))
    return sp.csr_matrix((vals, cols, indptr), shape=(n_rows, n_items))


def _sorted_vote_matrix(
    kept: list[Kept],
    self_votes: list[tuple[npt.NDArray[np.int32], npt.NDArray[np.float64], int]],
    n_rows: int,
    n_items: int,
) -> sp.csr_matrix:
    """``vote_matrix`` of pairs in any order: every entry sorted by (row, column)."""
    rows = np.concatenate(
        [k.channel * n_items + k.indicators.astype(np.int64) for k in kept]
        + [c * n_items + items.astype(np.int64) for items, _, c in self_votes]
    )
    cols = np.concatenate([k.items for k in kept] + [items for items, _, _ in self_votes])
    vals = np.concatenate([k.votes for k in kept] + [v for _, v, _ in self_votes])
    order = row_col_order(rows, cols, n_rows, n_items)
    return csr_from_sorted(rows[order], cols[order], n_rows, n_items, data=vals[order])


def similar_rows(
    kept: list[Kept], channels: list[str]
) -> tuple[
    npt.NDArray[np.int32],
    npt.NDArray[np.int32],
    npt.NDArray[np.float64],
    npt.NDArray[np.int16],
    npt.NDArray[np.int32],
]:
    """Every kept pair in ``similar_items`` order (item, channel name, score desc, indicator
    asc) with its rank in its (item, channel): (items, indicators, scores, channel, ranks).

    Each channel's pairs come out of ``score_channel`` by item, each item's in rank order,
    so each pair's place follows from counts alone: no sort."""
    if not kept:
        empty = np.zeros(0, np.int32)
        return empty, empty, np.zeros(0), np.zeros(0, np.int16), empty
    by_name = sorted(kept, key=lambda k: channels[k.channel])
    n_rows = max((int(k.items.max()) + 1 for k in kept if k.items.size), default=0)
    per = np.stack([np.bincount(k.items, minlength=n_rows) for k in by_name], axis=1).ravel()
    start = (np.cumsum(per) - per).reshape(n_rows, len(by_name))  # (item, channel) blocks
    total = int(per.sum())
    rows, cols = np.empty(total, np.int32), np.empty(total, np.int32)
    scores, chan = np.empty(total), np.empty(total, np.int16)
    ranks = np.empty(total, np.int32)
    for at, k in enumerate(by_name):  # each pair's rank: ``rank_in_rows`` of its items
        place_rows(
            k.items, k.indicators, k.scores, np.int16(k.channel),
            np.ascontiguousarray(start[:, at]), rows, cols, scores, chan, ranks,
        )  # fmt: skip
    return rows, cols, scores, chan, ranks
