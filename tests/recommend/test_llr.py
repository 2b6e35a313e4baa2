"""LLR: hand-computed tables, the sign rule, and agreement with the textbook G^2 formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopscale.recommend.llr import (
    MAX_USERS_EXACT,
    contingency,
    indicator_score,
    indicator_scores,
    llr,
    llr_scalar,
    positively_associated,
    xlogx,
)


def test_hand_computed_perfect_pair() -> None:
    """k = (1, 0, 0, 1): every H term is 2 ln 2, so G^2 = 2 * (2ln2 + 2ln2 - 2ln2) = 4 ln 2."""
    assert llr([1], [0], [0], [1])[0] == pytest.approx(4 * math.log(2), rel=1e-12)


def test_hand_computed_weak_pair() -> None:
    """k = (2, 1, 1, 2): G^2 = 2 * (6ln2 + 6ln2 - (6ln6 - 4ln2)) = 32 ln 2 - 12 ln 6."""
    assert llr([2], [1], [1], [2])[0] == pytest.approx(
        32 * math.log(2) - 12 * math.log(6), rel=1e-12
    )


def test_xlogx_of_zero_is_zero() -> None:
    """xlogx(0) = 0 by definition, not NaN."""
    assert xlogx([0, 1, math.e]).tolist() == pytest.approx([0.0, 0.0, math.e])


def test_negative_association_is_not_an_indicator() -> None:
    """N=10,000 with 100 co-occurrences where 500 are expected scores ~807, yet is dropped."""
    k11, k12, k21, k22 = contingency([100], [5000], [1000], 10_000)
    assert llr(k11, k12, k21, k22)[0] == pytest.approx(807.333, abs=1e-3)
    assert not positively_associated(k11, k12, k21, k22)[0]
    assert indicator_scores([100], [5000], [1000], 10_000)[0] == 0.0


def test_niche_pair_is_an_indicator() -> None:
    """Ten users who did both of two items nobody else touched is a strong positive indicator."""
    score = indicator_scores([10], [20], [20], 10_000)[0]
    assert score == pytest.approx(102.713, abs=1e-3)


def _g2(k11: int, k12: int, k21: int, k22: int) -> float:
    """Textbook G^2 = 2 * sum O ln(O / E), for comparison."""
    n = k11 + k12 + k21 + k22
    rows, cols = (k11 + k12, k21 + k22), (k11 + k21, k12 + k22)
    total = 0.0
    for o, r, c in ((k11, 0, 0), (k12, 0, 1), (k21, 1, 0), (k22, 1, 1)):
        if o:
            total += o * math.log(o * n / (rows[r] * cols[c]))
    return 2 * total


@given(st.lists(st.integers(0, 10_000), min_size=4, max_size=4).filter(lambda k: sum(k) > 0))
def test_matches_textbook_formula(k: list[int]) -> None:
    """The entropy form equals the observed/expected form for any table (up to rounding)."""
    got = llr(*[np.array([x]) for x in k])[0]
    assert got == pytest.approx(max(_g2(*k), 0.0), rel=1e-7, abs=1e-6)


def test_exact_integer_comparison_on_large_counts() -> None:
    """The sign rule compares k11*k22 and k12*k21 exactly even where float64 would round."""
    big = 2**31 - 1
    assert positively_associated([big], [big - 1], [big + 1], [big])[0]
    assert not positively_associated([big - 1], [big], [big], [big - 1])[0]


def test_scalar_llr_equals_numpy_bit_for_bit() -> None:
    """The numba scalar LLR (what fused kernels call) gives the NumPy path's bits on 200,000
    random tables, from tiny counts to counts near the exact-int64 limit."""
    rng = np.random.default_rng(7)
    tiny, mid = rng.integers(1, 20, 50_000), rng.integers(1, 10**6, 100_000)
    n = np.concatenate([tiny, mid, rng.integers(10**6, MAX_USERS_EXACT, 50_000)])
    right = rng.integers(0, n + 1)
    left = rng.integers(0, n + 1)
    k11 = rng.integers(np.maximum(left + right - n, 0), np.minimum(left, right) + 1)
    k12, k21 = right - k11, left - k11
    k22 = n - k11 - k12 - k21
    want = np.where(positively_associated(k11, k12, k21, k22), llr(k11, k12, k21, k22), 0.0)
    got = [indicator_score(*(int(x[p]) for x in (k11, left, right, n))) for p in range(n.size)]
    assert np.array(got).tobytes() == want.tobytes()
    raw = [llr_scalar(*(int(x[p]) for x in (k11, k12, k21, k22))) for p in range(1000)]
    assert np.array(raw).tobytes() == llr(k11, k12, k21, k22)[:1000].tobytes()
    assert indicator_scores(k11[:9], left[:9], right[:9], int(n[0])).shape == (9,)
