"""The fused reduce kernel keeps exactly what the NumPy path keeps, with bit-equal scores."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.engine.local.reduce import (
    Kept,
    PairScoring,
    csr_from_sorted,
    pair_scores,
    score_channel,
    similar_rows,
    vote_matrix,
)
from shopscale.engine.local.score_kernels import row_col_order
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.ranking import rank_in_rows, top_k_per_row, vote_values

METHODS = ["llr", "count", "cosine", "jaccard", "lift"]


def random_counts(
    seed: int, n_items: int, n_users: int, density: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Consistent pair counts: rows, cols, k11 <= both marginals, marginals <= N."""
    rng = np.random.default_rng(seed)
    left = rng.integers(1, n_users + 1, n_items, dtype=np.int64)
    right = rng.integers(1, n_users + 1, n_items, dtype=np.int64)
    if seed % 3 == 0:  # extreme marginals: nearly everyone, or one user
        left[::5], right[1::7] = n_users, 1
    mask = rng.random((n_items, n_items)) < density
    rows, cols = np.nonzero(mask)
    cap = np.minimum(left[rows], right[cols])
    k11 = np.minimum(cap, rng.integers(1, cap + 1) if seed % 2 else cap)  # some k11 = cap
    ties = rng.random(rows.size) < 0.3  # repeated counts tie in score
    k11[ties] = np.minimum(cap[ties], 1)
    return rows, cols, k11, left, right


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_items=st.integers(1, 40),
    n_users=st.sampled_from([1, 2, 7, 1000, 10**6, 3_000_000_000]),
    density=st.sampled_from([0.05, 0.3, 1.0]),
    method=st.sampled_from(METHODS),
    zero_diagonal=st.booleans(),
    k=st.integers(1, 6),
)
def test_kernel_equals_numpy_path(
    seed: int,
    n_items: int,
    n_users: int,
    density: float,
    method: str,
    zero_diagonal: bool,
    k: int,
) -> None:
    """score_channel keeps the same pairs, in the same order, with the same score and vote
    bits, as pair_scores + top_k_per_row + vote_values, also for extreme and tied counts."""
    rows, cols, k11, left, right = random_counts(seed, n_items, n_users, density)
    params = RecommendParams(similarity=method, max_similar_per_item=k)  # type: ignore[arg-type]
    scoring = PairScoring(left, right, n_users, zero_diagonal)
    counts = csr_from_sorted(rows, cols, n_items, n_items, data=k11)
    got = score_channel(counts, scoring, params, channel=2)
    scores = pair_scores(rows, cols, k11, scoring, params)
    keep = top_k_per_row(rows, cols, scores, k)
    assert got.items.tolist() == rows[keep].tolist()
    assert got.indicators.tolist() == cols[keep].tolist()
    assert got.scores.tobytes() == scores[keep].tobytes()
    want_votes = (
        vote_values(params.vote, scores[keep], k11[keep], right[cols[keep]])
        if method == "llr"
        else scores[keep]
    )
    assert got.votes.tobytes() == want_votes.tobytes()
    assert got.channel == 2


@pytest.mark.parametrize("method", METHODS)
def test_kernel_on_many_pairs(method: str) -> None:
    """On 160,000 random pairs over 400 items the kernel and the NumPy path agree bit for bit."""
    rows, cols, k11, left, right = random_counts(12, 400, 50_000, 1.0)
    params = RecommendParams(similarity=method, max_similar_per_item=50)  # type: ignore[arg-type]
    scoring = PairScoring(left, right, 50_000, zero_diagonal=True)
    counts = csr_from_sorted(rows, cols, 400, 400, data=k11)
    got = score_channel(counts, scoring, params, channel=0)
    scores = pair_scores(rows, cols, k11, scoring, params)
    keep = top_k_per_row(rows, cols, scores, 50)
    assert got.indicators.tolist() == cols[keep].tolist()
    assert got.scores.tobytes() == scores[keep].tobytes()


def test_empty_channel_keeps_nothing() -> None:
    """A channel without pair counts keeps no pair."""
    empty = np.zeros(0, np.int64)
    counts = csr_from_sorted(empty, empty, 3, 3, data=np.zeros(0, np.int32))
    scoring = PairScoring(np.ones(3, np.int64), np.ones(3, np.int64), 5, zero_diagonal=False)
    got = score_channel(counts, scoring, RecommendParams(), channel=0)
    assert got.items.size == got.indicators.size == got.scores.size == 0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_channels=st.integers(1, 4), k=st.integers(1, 5))
def test_similar_rows_equal_a_full_sort(seed: int, n_channels: int, k: int) -> None:
    """similar_rows orders kept pairs as a sort by (item, channel name, score desc,
    indicator) would, ranking them within each (item, channel)."""
    channels = ["viewed", "carted", "purchased", "any"][:n_channels]
    kept = []
    for c in range(n_channels):
        rows, cols, k11, left, right = random_counts(seed + c, 12, 50, 0.6)
        counts = csr_from_sorted(rows, cols, 12, 12, data=k11)
        params = RecommendParams(max_similar_per_item=k, vote="llr")
        kept.append(score_channel(counts, PairScoring(left, right, 50, True), params, c))
    rows, cols, scores, chan, ranks = similar_rows(kept, channels)
    r = np.concatenate([x.items for x in kept])
    j = np.concatenate([x.indicators for x in kept])
    s = np.concatenate([x.scores for x in kept])
    ch = np.concatenate([np.full(x.items.size, x.channel) for x in kept])
    name_rank = np.argsort(np.argsort(channels))
    order = np.lexsort((j, -s, name_rank[ch], r))
    assert rows.tolist() == r[order].tolist() and cols.tolist() == j[order].tolist()
    assert scores.tobytes() == s[order].tobytes() and chan.tolist() == ch[order].tolist()
    group = r[order] * n_channels + name_rank[ch[order]]
    assert ranks.tolist() == rank_in_rows(group).tolist()


@settings(max_examples=40, deadline=None)
@given(
    entries=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 6)), max_size=80),
)
def test_row_col_order_is_a_stable_sort(entries: list[tuple[int, int]]) -> None:
    """row_col_order orders entries by (row, col), equal entries in input order."""
    rows = np.array([r for r, _ in entries], dtype=np.int64)
    cols = np.array([c for _, c in entries], dtype=np.int32)
    got = row_col_order(rows, cols, 10, 7)
    assert got.tolist() == np.lexsort((cols, rows)).tolist()


@st.composite
def _kept_votes(draw: st.DrawFn) -> tuple[list[Kept], list, int, bool]:
    """Kept pairs of 1-3 channels (each pair (i, j) once, i != j, votes with ties) and self
    votes; grouped by item (as the local reduce keeps them) or in any order."""
    n_items = draw(st.integers(1, 7))
    grouped = draw(st.booleans())
    kept, own = [], []
    for c in range(draw(st.integers(1, 3))):
        pairs = draw(
            st.lists(
                st.tuples(st.integers(0, n_items - 1), st.integers(0, n_items - 1)).filter(
                    lambda p: p[0] != p[1]
                ),
                unique=True,
                max_size=20,
            )
        )
        if grouped:
            pairs = sorted(pairs, key=lambda p: p[0])  # by item; indicators in any order
        votes = draw(
            st.lists(st.sampled_from([0.5, 1.0, 2.25]), min_size=len(pairs), max_size=len(pairs))
        )
        items = np.array([p[0] for p in pairs], dtype=np.int32)
        indicators = np.array([p[1] for p in pairs], dtype=np.int32)
        kept.append(Kept(items, indicators, np.zeros(len(pairs)), np.array(votes, float), c))
        if draw(st.booleans()):
            self_items = sorted(draw(st.sets(st.integers(0, n_items - 1), max_size=n_items)))
            values = [float(draw(st.integers(1, 9))) for _ in self_items]
            own.append((np.array(self_items, np.int32), np.array(values), c))
    return kept, own, n_items, grouped


@settings(max_examples=300, deadline=None)
@given(case=_kept_votes())
def test_the_vote_matrix_placed_by_item_is_the_sorted_one(
    case: tuple[list[Kept], list, int, bool],
) -> None:
    """Pairs grouped by item are placed in one pass per channel (on threads); any order goes
    through the sorted path; both give the CSR of every entry sorted by (row, column), with
    the same index and value arrays, the self votes on their rows."""
    kept, own, n_items, _ = case
    got = vote_matrix(kept, own, n_items)
    n_rows = len(kept) * n_items
    entries = sorted(
        [
            (k.channel * n_items + j, i, v)
            for k in kept
            for i, j, v in zip(k.items, k.indicators, k.votes, strict=True)
        ]
        + [
            (c * n_items + i, i, v)
            for items, values, c in own
            for i, v in zip(items, values, strict=True)
        ]
    )
    want = csr_from_sorted(
        np.array([e[0] for e in entries], np.int64),
        np.array([e[1] for e in entries], np.int32),
        n_rows,
        n_items,
        data=np.array([e[2] for e in entries], np.float64),
    )
    assert got.shape == want.shape
    for name in ("indptr", "indices", "data"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
