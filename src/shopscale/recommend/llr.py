"""Dunning's log-likelihood ratio (G^2) on a 2x2 contingency table, vectorised.

Pure math every engine calls (local kernels, Spark pandas UDFs), so all compute the same
numbers: vectorised NumPy, and the same formula as numba scalar functions (``llr_scalar``,
``indicator_score``) for fused kernels, in the same operation order, so both give the same
bits (tests/recommend/test_llr.py compares them on many random and extreme tables):

    score = 2 * (H(k11+k12, k21+k22) + H(k11+k21, k12+k22) - H(k11, k12, k21, k22))
    H(k...) = xlogx(sum k) - sum xlogx(k),  xlogx(0) = 0,  clipped at 0.

Only positively associated pairs are indicators: ``k11 * k22 > k12 * k21`` in exact integers.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# k11 * k22 must not overflow int64: with N users, each factor is at most N.
MAX_USERS_EXACT = 3_037_000_499


def xlogx(x: npt.ArrayLike) -> FloatArray:
    """x * ln(x) with 0 * ln(0) = 0, each element by ``xlogx_scalar``: NumPy's own ``log``
    takes SIMD code on CPUs with AVX-512 whose last bit can differ from the C library's
    ``log`` that the numba kernels call, so the vector path loops over the scalar one."""
    xf = np.asarray(x, dtype=np.float64)
    flat = np.ascontiguousarray(xf).ravel()
    out = np.empty_like(flat)
    _xlogx_into(flat, out)
    return out.reshape(xf.shape)


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


@numba.njit(cache=True, nogil=True)
def xlogx_scalar(x: float) -> float:
    """x * ln(x) with 0 * ln(0) = 0 (one number; ``xlogx``'s operations)."""
    return x * np.log(x) if x > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def _xlogx_into(x: FloatArray, out: FloatArray) -> None:
    """``out[k] = xlogx_scalar(x[k])``: the C library's ``log``, as in the scalar kernels
    (numba vectorises ``log`` only with Intel's SVML installed; test_llr.py would see it)."""
    for k in range(x.size):
        out[k] = xlogx_scalar(x[k])


@numba.njit(cache=True, nogil=True)
def entropy2(a: int, b: int) -> float:
    """``entropy`` of two counts (one number): a table's row or column term."""
    fa, fb = float(a), float(b)
    return xlogx_scalar(fa + fb) - (xlogx_scalar(fa) + xlogx_scalar(fb))


@numba.njit(cache=True, nogil=True)
def llr_from_terms(
    x11: float, x12: float, x21: float, x22: float, row: float, col: float, x_total: float
) -> float:
    """``llr`` of one table from xlogx of its four cells, its row and column terms
    (``entropy2`` of the row sums and of the column sums) and xlogx of its total: a kernel
    computes the item terms once per item, xlogx(N) once, and may look small cells' xlogx up
    in a table made by ``xlogx_scalar``; the operations are the same, so are the bits."""
    cells = ((x11 + x12) + x21) + x22
    return max(2.0 * (row + col - (x_total - cells)), 0.0)


@numba.njit(cache=True, nogil=True)
def llr_scalar(k11: int, k12: int, k21: int, k22: int) -> float:
    """``llr`` of one table, the NumPy path's operations in its order (sums left to right)."""
    total = ((float(k11) + float(k12)) + float(k21)) + float(k22)
    row = entropy2(k11 + k12, k21 + k22)
    col = entropy2(k11 + k21, k12 + k22)
    x11, x12 = xlogx_scalar(float(k11)), xlogx_scalar(float(k12))
    x21, x22 = xlogx_scalar(float(k21)), xlogx_scalar(float(k22))
    return llr_from_terms(x11, x12, x21, x22, row, col, xlogx_scalar(total))


@numba.njit(cache=True, nogil=True)
def indicator_score(k11: int, row_total: int, col_total: int, n: int) -> float:
    """``indicator_scores`` of one pair: its LLR, or 0 if not positively associated (the
    caller checks ``n <= MAX_USERS_EXACT`` once, as ``contingency`` does)."""
    k12 = col_total - k11
    k21 = row_total - k11
    k22 = n - k11 - k12 - k21
    if k11 * k22 <= k12 * k21:
        return 0.0
    return llr_scalar(k11, k12, k21, k22)
