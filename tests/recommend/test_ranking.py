"""Ranking rules: top-k per row with id tie-breaks, classic similarities, decay, backfill."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopscale.recommend.ranking import (
    classic_scores,
    decay_weights,
    rank_in_rows,
    reference_top_n,
    sequence_weights,
    top_k_per_row,
    unprompted_prior,
    vote_values,
)


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 9), st.sampled_from([0.0, 1.0, 2.0, 2.5])),
        max_size=60,
        unique_by=lambda e: (e[0], e[1]),
    ),
    st.integers(1, 4),
)
def test_top_k_per_row_matches_sorting(entries: list[tuple[int, int, float]], k: int) -> None:
    """Per row, the kept entries are the k best by (score desc, col asc) among score > 0."""
    rows = np.array([e[0] for e in entries], dtype=np.int32)
    cols = np.array([e[1] for e in entries], dtype=np.int32)
    scores = np.array([e[2] for e in entries], dtype=np.float64)
    kept = top_k_per_row(rows, cols, scores, k)
    got = [(int(rows[x]), int(cols[x])) for x in kept]
    want = []
    for r in sorted(set(rows.tolist())):
        cands = sorted((e for e in entries if e[0] == r and e[2] > 0), key=lambda e: (-e[2], e[1]))
        want += [(r, c) for _, c, _ in cands[:k]]
    assert got == want


def test_rank_in_rows_restarts_per_row() -> None:
    """Ranks count 1, 2, ... within each run of equal row ids."""
    assert rank_in_rows(np.array([0, 0, 0, 3, 5, 5])).tolist() == [1, 2, 3, 1, 1, 2]


def test_classic_scores_hand_values() -> None:
    """Two items with 4 and 9 users sharing 2, among 36 users."""
    c, a, b = np.array([2]), np.array([4]), np.array([9])
    assert classic_scores("count", c, a, b, 36)[0] == 2
    assert classic_scores("cosine", c, a, b, 36)[0] == pytest.approx(2 / 6)
    assert classic_scores("jaccard", c, a, b, 36)[0] == pytest.approx(2 / 11)
    assert classic_scores("lift", c, a, b, 36)[0] == pytest.approx(2 * 36 / 36)


def test_decay_halves_per_half_life() -> None:
    """An event one half-life old weighs 0.5, two half-lives 0.25; no decay weighs 1."""
    day = 86_400
    t = np.array([10 * day, 9 * day, 8 * day], dtype=np.int64)
    assert decay_weights(t, 10 * day, 1.0).tolist() == pytest.approx([1.0, 0.5, 0.25])
    assert decay_weights(t, 10 * day, None).tolist() == [1.0, 1.0, 1.0]


def test_sequence_decay_by_newer_entries_of_the_same_user() -> None:
    """User 0's newest entry weighs 1, the next 0.5; equal times share a rank; user 1's ranks
    are its own, however old its events are."""
    users = np.array([0, 0, 0, 0, 1, 1])
    t = np.array([5, 9, 7, 7, 1, 2], dtype=np.int64)
    got = sequence_weights(users, t, 1.0).tolist()
    assert got == pytest.approx([0.125, 1.0, 0.5, 0.5, 0.5, 1.0])
    assert sequence_weights(users, t, 0.0).tolist() == [1.0] * 6


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), max_size=30),
    st.sampled_from([0.5, 1.0, 5.0]),
)
def test_sequence_weights_match_counting(entries: list[tuple[int, int]], half: float) -> None:
    """Each weight is 0.5 ** (entries of the same user with a strictly later time / half),
    bit for bit (the batch job, the server and the explanations must agree exactly)."""
    users = np.array([u for u, _ in entries], dtype=np.int64)
    t = np.array([x for _, x in entries], dtype=np.int64)
    newer = np.array([sum(1 for v, y in entries if v == u and y > x) for u, x in entries])
    want = np.power(0.5, newer / half)
    assert np.array_equal(sequence_weights(users, t, half), want)


def test_reference_top_n_excludes_and_backfills() -> None:
    """Excluded items never appear; ties go to the smaller id; popular items fill up to n."""
    top = reference_top_n({1: 2.0, 2: 2.0, 3: 5.0, 4: 1.0}, {3}, [3, 5, 1, 6], n=4, backfill=True)
    assert top == [(1, 2.0, "model"), (2, 2.0, "model"), (4, 1.0, "model"), (5, 0.0, "backfill")]


def test_vote_values_hand_values() -> None:
    """LLR 8 with k11 = 2 of n(j) = 4 users: LLR votes 8, P(i | j) 0.5, their root mean 2."""
    llr, k11, n_j = np.array([8.0, 0.0]), np.array([2, 0]), np.array([4, 5])
    assert vote_values("llr", llr, k11, n_j).tolist() == [8.0, 0.0]
    assert vote_values("conditional", llr, k11, n_j).tolist() == [0.5, 0.0]
    assert vote_values("geometric", llr, k11, n_j).tolist() == [2.0, 0.0]


@given(
    st.lists(st.tuples(st.floats(0.01, 1e4), st.integers(1, 50), st.integers(0, 50)), min_size=1)
)
def test_geometric_vote_lies_between_its_parts(pairs: list[tuple[float, int, int]]) -> None:
    """The geometric vote is never outside [min, max] of LLR and P(i | j), and is positive."""
    llr = np.array([p[0] for p in pairs])
    k11 = np.array([p[1] for p in pairs])
    n_j = k11 + np.array([p[2] for p in pairs])
    geo = vote_values("geometric", llr, k11, n_j)
    cond = vote_values("conditional", llr, k11, n_j)
    assert np.all(geo > 0)
    assert np.all(geo <= np.maximum(llr, cond) * (1 + 1e-12))
    assert np.all(geo >= np.minimum(llr, cond) * (1 - 1e-12))


def test_unprompted_prior_hand_values() -> None:
    """10 of item 0's 12 buyers never engaged with it, against 11 of 113 purchases in the
    log: G^2 = 50.1, excess 10 - 12 * 11/113 = 8.832 buyers, times weight 2 over 50 users.
    Item 1 (0 of 100) is below the log's share; item 2 (1 of 1) is not significant (G^2 4.7)."""
    got = unprompted_prior(np.array([10, 0, 1]), np.array([12, 100, 1]), 50, 2.0, limit=5)
    assert got.tolist() == pytest.approx([2.0 * (10 - 12 * 11 / 113) / 50, 0.0, 0.0], rel=1e-12)


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=30),
    st.floats(0.5, 1e5),
    st.integers(1, 4),
)
def test_unprompted_prior_only_lifts_items_above_the_logs_share(
    counts: list[tuple[int, int]], weight: float, limit: int
) -> None:
    """Positive only where an item's unprompted share exceeds the log's; linear in the weight;
    at most ``limit`` items, the largest of the uncapped prior (ties by item); 0 everywhere
    when every purchase is unprompted or the weight is 0."""
    unprompted = np.array([k for k, _ in counts])
    buyers = unprompted + np.array([e for _, e in counts])
    full = unprompted_prior(unprompted, buyers, 100, weight, limit=len(counts))
    prior = unprompted_prior(unprompted, buyers, 100, weight, limit=limit)
    share = unprompted.sum() / max(buyers.sum(), 1)
    lifted = prior > 0
    assert np.all(unprompted[lifted] > share * buyers[lifted])
    assert lifted.sum() == min(limit, (full > 0).sum())
    ranked = sorted(np.flatnonzero(full > 0), key=lambda i: (-full[i], i))[:limit]
    assert sorted(ranked) == np.flatnonzero(lifted).tolist()
    assert np.array_equal(prior[lifted], full[lifted])
    doubled = unprompted_prior(unprompted, buyers, 100, 2 * weight, limit=limit)
    assert doubled == pytest.approx(2 * prior)
    assert not unprompted_prior(buyers, buyers, 100, weight, limit=limit).any()
    assert not unprompted_prior(unprompted, buyers, 100, 0.0, limit=limit).any()
