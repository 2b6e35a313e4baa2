"""Dunning's log-likelihood ratio (G^2) on a 2x2 contingency table, vectorised.

Pure NumPy so every engine (local kernels, Spark pandas UDFs) computes the same numbers:

    score = 2 * (H(k11+k12, k21+k22) + H(k11+k21, k12+k22) - H(k11, k12, k21, k22))
    H(k...) = xlogx(sum k) - sum xlogx(k),  xlogx(0) = 0,  clipped at 0.

Only positively associated pairs are indicators: ``k11 * k22 > k12 * k21`` in exact integers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# k11 * k22 must not overflow int64: with N users, each factor is at most N.
MAX_USERS_EXACT = 3_037_000_499


def xlogx(x: npt.ArrayLike) -> FloatArray:
    """x * ln(x) with 0 * ln(0) = 0."""
    xf = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(xf)
    pos = xf > 0
    out[pos] = xf[pos] * np.log(xf[pos])
    return out


def entropy(*counts: npt.ArrayLike) -> FloatArray:
    """Unnormalised entropy H(k...) = xlogx(sum k) - sum xlogx(k)."""
    total = np.sum([np.asarray(c, dtype=np.float64) for c in counts], axis=0)
    return xlogx(total) - np.sum([xlogx(c) for c in counts], axis=0)


def llr(
    k11: npt.ArrayLike, k12: npt.ArrayLike, k21: npt.ArrayLike, k22: npt.ArrayLike
) -> FloatArray:
    """G^2 log-likelihood ratio of each 2x2 table, clipped at 0."""
    row = entropy(np.add(k11, k12), np.add(k21, k22))
    col = entropy(np.add(k11, k21), np.add(k12, k22))
    mat = entropy(k11, k12, k21, k22)
    return np.maximum(2.0 * (row + col - mat), 0.0)


def positively_associated(
    k11: npt.ArrayLike, k12: npt.ArrayLike, k21: npt.ArrayLike, k22: npt.ArrayLike
) -> npt.NDArray[np.bool_]:
    """k11 * k22 > k12 * k21, compared in exact int64 arithmetic."""
    a = np.asarray(k11, dtype=np.int64) * np.asarray(k22, dtype=np.int64)
    b = np.asarray(k12, dtype=np.int64) * np.asarray(k21, dtype=np.int64)
    return a > b


def contingency(
    k11: npt.ArrayLike, row_total: npt.ArrayLike, col_total: npt.ArrayLike, n: int
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """The 2x2 table of pair (i, j) from co-occurrence k11 and the two marginals.

    ``row_total`` = users who did the primary action on i, ``col_total`` = users who did the
    indicator action on j, ``n`` = distinct users.
    """
    if n > MAX_USERS_EXACT:
        raise ValueError(f"{n} users overflow exact int64 comparison (max {MAX_USERS_EXACT})")
    k11 = np.asarray(k11, dtype=np.int64)
    k12 = np.asarray(col_total, dtype=np.int64) - k11
    k21 = np.asarray(row_total, dtype=np.int64) - k11
    k22 = np.int64(n) - k11 - k12 - k21
    return k11, k12, k21, k22


def indicator_scores(
    k11: npt.ArrayLike, row_total: npt.ArrayLike, col_total: npt.ArrayLike, n: int
) -> FloatArray:
    """LLR of each pair, or 0 where the pair is not positively associated."""
    table = contingency(k11, row_total, col_total, n)
    scores = llr(*table)
    return np.where(positively_associated(*table), scores, 0.0)
