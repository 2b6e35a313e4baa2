"""Metrics on hand-computed cases: every number below was worked out on paper."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopscale.evaluate.metrics import (
    RankedLists,
    Truth,
    bootstrap_interval,
    coverage,
    hit_matrix,
    mean_average_precision,
    model_share,
    ndcg,
    per_user_scores,
    precision,
    recall,
    score_lists,
)

# user 1: list [5, 3, 9, 7], truth {3, 7, 8}  -> hits at ranks 2 and 4
# user 2: list [1, 2, 4, 6], truth {1}        -> hit at rank 1
# user 3: no list at all,    truth {2}        -> scores 0 everywhere
LISTS = RankedLists.from_dict({1: [5, 3, 9, 7], 2: [1, 2, 4, 6]}, backfill={2: 4})
TRUTH = Truth.from_dict({1: {3, 7, 8}, 2: {1}, 3: {2}})


def _scores(k: int) -> dict[str, float]:
    return score_lists(LISTS, TRUTH, [k], catalogue_size=10)


def test_hit_matrix_marks_relevant_positions() -> None:
    """The hit matrix has one row per test user, sorted, with relevant positions marked."""
    hits, n_rel = hit_matrix(LISTS, TRUTH)
    assert hits.tolist() == [
        [False, True, False, True],
        [True, False, False, False],
        [False, False, False, False],
    ]
    assert n_rel.tolist() == [3, 1, 1]


def test_precision_divides_by_k() -> None:
    """precision@2 = mean(1/2, 1/2, 0) and precision@4 = mean(2/4, 1/4, 0)."""
    hits, _ = hit_matrix(LISTS, TRUTH)
    assert precision(hits, 2) == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert precision(hits, 4) == pytest.approx((0.5 + 0.25 + 0) / 3)


def test_recall_divides_by_truth_size() -> None:
    """recall@4 = mean(2/3, 1/1, 0)."""
    hits, n_rel = hit_matrix(LISTS, TRUTH)
    assert recall(hits, n_rel, 4) == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_ndcg_by_hand() -> None:
    """NDCG@4: user 1 = (1/log2 3 + 1/log2 5) / (1 + 1/log2 3 + 1/2); user 2 = 1; user 3 = 0."""
    hits, n_rel = hit_matrix(LISTS, TRUTH)
    u1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    assert ndcg(hits, n_rel, 4) == pytest.approx((u1 + 1 + 0) / 3)


def test_ndcg_ideal_is_capped_at_k() -> None:
    """With k=2 the ideal DCG of user 1 counts only 2 of their 3 relevant items."""
    hits, n_rel = hit_matrix(LISTS, TRUTH)
    u1 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ndcg(hits, n_rel, 2) == pytest.approx((u1 + 1 + 0) / 3)


def test_map_by_hand() -> None:
    """AP@4 of user 1 = (1/2 + 2/4) / min(3, 4) = 1/3; user 2 = 1; user 3 = 0."""
    hits, n_rel = hit_matrix(LISTS, TRUTH)
    assert mean_average_precision(hits, n_rel, 4) == pytest.approx((1 / 3 + 1 + 0) / 3)


def test_score_lists_hit_rate_and_names() -> None:
    """hit_rate@1 = 1/3 (only user 2) and every metric is named metric@k."""
    s = _scores(1)
    assert s["hit_rate@1"] == pytest.approx(1 / 3)
    assert s["precision@1"] == pytest.approx(1 / 3)
    assert s["users"] == 3
    assert set(s) == {
        "users",
        "model_share",
        "precision@1",
        "recall@1",
        "ndcg@1",
        "map@1",
        "hit_rate@1",
        "coverage@1",
    }


def test_coverage_counts_distinct_items_of_test_users() -> None:
    """Top-2 of users 1 and 2 hold items {5, 3, 1, 2}: coverage 4 / 10."""
    assert coverage(LISTS, TRUTH.users, 2, 10) == pytest.approx(0.4)
    assert coverage(LISTS, np.array([1]), 4, 8) == pytest.approx(0.5)


def test_model_share_ignores_backfilled_lists() -> None:
    """User 2's list is all backfill and user 3 has none: 1 of 3 users got model items."""
    assert model_share(LISTS, TRUTH.users) == pytest.approx(1 / 3)


def test_perfect_list_scores_one() -> None:
    """A list that starts with every relevant item scores 1 on NDCG, MAP, recall and hit rate."""
    s = score_lists(
        RankedLists.from_dict({7: [4, 2, 9]}), Truth.from_dict({7: {2, 4}}), [3], catalogue_size=5
    )
    for name in ("ndcg@3", "map@3", "recall@3", "hit_rate@3"):
        assert s[name] == pytest.approx(1.0)
    assert s["precision@3"] == pytest.approx(2 / 3)


def test_lists_must_be_sorted_by_user() -> None:
    """RankedLists rejects unsorted users (the hit matrix relies on the order)."""
    with pytest.raises(ValueError, match="sorted"):
        RankedLists(np.array([2, 1]), np.zeros((2, 1), np.int64), np.zeros((2, 1), bool))


def test_per_user_scores_are_the_terms_of_the_means() -> None:
    """Per-user NDCG@4 and recall@4, by hand; their means are the reported metrics."""
    per_user = per_user_scores(LISTS, TRUTH, 4)
    # user 1: DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/log2(4); recall 2/3
    dcg1 = 1 / math.log2(3) + 1 / math.log2(5)
    idcg1 = 1 + 1 / math.log2(3) + 0.5
    assert per_user["ndcg@4"] == pytest.approx([dcg1 / idcg1, 1.0, 0.0], abs=1e-6)
    assert per_user["recall@4"] == pytest.approx([2 / 3, 1.0, 0.0], abs=1e-6)
    scores = _scores(4)
    assert np.mean(per_user["ndcg@4"]) == pytest.approx(scores["ndcg@4"], abs=1e-6)
    assert np.mean(per_user["recall@4"]) == pytest.approx(scores["recall@4"], abs=1e-6)


@given(
    values=st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
)
def test_bootstrap_interval_brackets_the_mean_within_the_data_range(
    values: list[float], seed: int
) -> None:
    """The interval lies within [min, max] of the data, is ordered, and is reproducible."""
    low, high = bootstrap_interval(values, seed=seed, draws=500)
    assert min(values) - 1e-12 <= low <= high <= max(values) + 1e-12
    assert (low, high) == bootstrap_interval(values, seed=seed, draws=500)


def test_bootstrap_interval_of_constant_differences_is_a_point() -> None:
    """Identical models (all differences 0) are indistinguishable: the interval is [0, 0]."""
    assert bootstrap_interval([0.0] * 25) == (0.0, 0.0)
    assert bootstrap_interval([0.25] * 7) == pytest.approx((0.25, 0.25))


def test_one_hit_among_sixty_users_is_within_noise_but_many_are_not() -> None:
    """One user in 60 better is not a significant lead; 30 in 60 is."""
    one = [1.0] + [0.0] * 59
    low, high = bootstrap_interval(one)
    assert low == 0.0 < high
    half = [1.0] * 30 + [0.0] * 30
    assert bootstrap_interval(half)[0] > 0.3
