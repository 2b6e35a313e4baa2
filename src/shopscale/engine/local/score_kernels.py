"""Numba kernel of the reduce stage: score every pair count of a channel and keep the best per
item in one pass, parallel over rows (both cores), no temporaries per pair.

The scores are the pure math of ``recommend.llr`` (``indicator_score``, the NumPy formula as a
scalar in the same operation order) and of ``recommend.ranking.classic_scores``; the kept
entries follow ``ranking.top_k_per_row`` (score desc, column asc, score > 0). Tests compare the
kernel with the NumPy path bit for bit (tests/engine/local/test_reduce_kernels.py).
"""

from __future__ import annotations

import os

os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "shopscale-numba")
)

import numba
import numpy as np
import numpy.typing as npt

from shopscale.engine.local.kernels import offer
from shopscale.recommend.llr import MAX_USERS_EXACT, entropy2, llr_from_terms, xlogx_scalar

METHODS = {"llr": 0, "count": 1, "cosine": 2, "jaccard": 3, "lift": 4}
"""Similarity names to the kernel's method codes."""
ROWS_PER_CALL = 1_000_000
"""Rows scored per kernel call: bounds the (rows x k) output buffers."""
TABLE_MAX = 1 << 22
"""Largest table of xlogx of small counts (32 MB); larger cells are computed."""


@numba.njit(cache=True, nogil=True)
def _xl(table, k: int) -> float:
    """xlogx(k) from the table when it holds k, else computed (the same value)."""
    return table[k] if k < table.size else xlogx_scalar(float(k))


@numba.njit(cache=True, nogil=True)
def _score(
    method: int, k11: int, n_i: int, n_j: int, n: int, h_i: float, h_j: float, x_n: float, table
) -> float:
    """One pair's score: ``indicator_score`` (with the item terms ``h_i``, ``h_j``,
    xlogx(N) ``x_n`` and small cells' xlogx ``table`` computed once), or ``classic_scores``'
    formula."""
    if method == 0:
        k12 = n_j - k11
        k21 = n_i - k11
        k22 = n - k11 - k12 - k21
        if k11 * k22 <= k12 * k21:
            return 0.0
        x11, x12, x21 = _xl(table, k11), _xl(table, k12), _xl(table, k21)
        return llr_from_terms(x11, x12, x21, _xl(table, k22), h_j, h_i, x_n)
    c, a, b = float(k11), float(n_i), float(n_j)
    if method == 1:
        return c
    if method == 2:
        return c / np.sqrt(a * b)
    if method == 3:
        return c / (a + b - c)
    return c * float(n) / (a * b)


@numba.njit(cache=True, parallel=True, nogil=True)
def _item_terms(totals, n):
    """``entropy2(total, N - total)`` of every item: its side's term in every LLR."""
    out = np.empty(totals.size, dtype=np.float64)
    for x in numba.prange(totals.size):
        out[x] = entropy2(totals[x], n - totals[x])
    return out


@numba.njit(cache=True, parallel=True, nogil=True)
def _score_top_k(
    indptr, indices, k11, left_total, right_total, n, method, zero_diagonal, diag, lo, k, pos, val
):
    """Rows lo.. of a CSR of pair counts: per row the k best (score desc, column asc) with
    score > 0, as positions into ``indices`` (-1 pads) and scores; row r is item r + diag
    (with ``zero_diagonal``, its own column is skipped)."""
    h_left = _item_terms(left_total, n)
    h_right = _item_terms(right_total, n)
    x_n = xlogx_scalar(float(n))
    top = max(left_total.max(), right_total.max()) if left_total.size else 0
    table = np.empty(min(top + 1, TABLE_MAX), dtype=np.float64)  # every k11, k12, k21 fits
    for x in numba.prange(table.size):
        table[x] = xlogx_scalar(float(x))
    n_rows = pos.shape[0]
    n_blocks = min(n_rows, 256)
    for b in numba.prange(n_blocks):
        best_c = np.empty(k, dtype=np.int64)
        for r in range(b * n_rows // n_blocks, (b + 1) * n_rows // n_blocks):
            row = lo + r
            best_s = val[r]
            best_p = pos[r]
            m = 0
            n_i, h_i = left_total[row], h_left[row]
            for p in range(indptr[row], indptr[row + 1]):
                c = indices[p]
                if zero_diagonal and c == row + diag:
                    continue
                s = _score(method, k11[p], n_i, right_total[c], n, h_i, h_right[c], x_n, table)
                if s <= 0.0:
                    continue
                m = offer(best_s, best_c, best_p, m, k, s, c, p)


def score_top_k(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int32],
    k11: npt.NDArray[np.integer],
    left_total: npt.NDArray[np.int64],
    right_total: npt.NDArray[np.int64],
    n_users: int,
    *,
    method: str,
    zero_diagonal: bool,
    k: int,
    diag: int = 0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Positions (into ``indices``) and scores of the kept pairs of a CSR of pair counts, row
    by row, each row's in rank order: what ``top_k_per_row`` keeps of the NumPy scores.
    ``diag``: the item of row 0 (a shard's rows are a range of items), for ``zero_diagonal``."""
    if method == "llr" and n_users > MAX_USERS_EXACT:
        raise ValueError(f"{n_users} users overflow exact int64 comparison")
    n_rows = indptr.size - 1
    parts_p, parts_s = [], []
    counts = np.ascontiguousarray(k11)  # int32 counts as they are: no int64 copy
    left = np.ascontiguousarray(left_total, dtype=np.int64)
    right = np.ascontiguousarray(right_total, dtype=np.int64)
    idx = np.ascontiguousarray(indices)
    ptr = np.ascontiguousarray(indptr, dtype=np.int64)
    for lo in range(0, n_rows, ROWS_PER_CALL):
        rows = min(ROWS_PER_CALL, n_rows - lo)
        pos = np.full((rows, k), -1, dtype=np.int64)
        val = np.zeros((rows, k), dtype=np.float64)
        if k > 0 and counts.size:
            _score_top_k(
                ptr, idx, counts, left, right, n_users, METHODS[method], zero_diagonal,
                np.int64(diag), lo, k, pos, val,
            )  # fmt: skip
        kept = pos.ravel() >= 0
        parts_p.append(pos.ravel()[kept])
        parts_s.append(val.ravel()[kept])
    if not parts_p:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(parts_p), np.concatenate(parts_s)


@numba.njit(cache=True, nogil=True)
def _counting_order(keys, n_keys, out):
    """Stable order of ``keys`` (each in 0..n_keys-1): one counting pass, one placing pass."""
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for x in range(keys.size):
        start[keys[x] + 1] += 1
    for b in range(n_keys):
        start[b + 1] += start[b]
    for x in range(keys.size):
        out[start[keys[x]]] = x
        start[keys[x]] += 1


def row_col_order(
    rows: npt.NDArray[np.int64], cols: npt.NDArray[np.integer], n_rows: int, n_cols: int
) -> npt.NDArray[np.int64]:
    """Positions of the entries in (row, col) order, stable: two counting sorts (by col, then
    by row), linear in the entries instead of a comparison sort."""
    by_col = np.empty(cols.size, dtype=np.int64)
    _counting_order(np.ascontiguousarray(cols, dtype=np.int64), n_cols, by_col)
    by_row = np.empty(rows.size, dtype=np.int64)
    _counting_order(np.ascontiguousarray(rows[by_col], dtype=np.int64), n_rows, by_row)
    return by_col[by_row]


@numba.njit(cache=True, nogil=True)
def place_votes(items, indicators, votes, own_items, own_votes, starts, cols, vals):
    """Place one channel's votes in its rows of the vote matrix: kept pair (item i,
    indicator j, vote) in row j, and self vote (item i, vote) in row i. Both come with items
    never decreasing, so merged by item they fill every row in column order; ``starts``: each
    row's first position (advanced as it fills). Of entries of the same item that meet in a
    row, pairs come first and each side keeps its order, as in the stable sort of
    ``row_col_order`` over the pairs followed by the self votes."""
    x = 0
    y = 0
    while x < items.size or y < own_items.size:
        if y == own_items.size or (x < items.size and items[x] <= own_items[y]):
            row, col, vote = indicators[x], items[x], votes[x]
            x += 1
        else:
            row, col, vote = own_items[y], own_items[y], own_votes[y]
            y += 1
        d = starts[row]
        cols[d] = col
        vals[d] = vote
        starts[row] = d + 1


@numba.njit(cache=True, nogil=True)
def non_decreasing(values):
    """True if ``values`` never decrease (one pass)."""
    for x in range(1, values.size):  # noqa: SIM110 (no generators in numba)
        if values[x] < values[x - 1]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def place_rows(items, indicators, scores, channel, start, rows, cols, vals, chan, ranks):
    """Scatter one channel's kept pairs (grouped by item, each item's in rank order) to their
    rows of the output: an item's r-th pair goes to ``start[item] + r - 1``, with its rank
    r (``ranking.rank_in_rows``: 1-based place in its run of equal items)."""
    rank = 0
    for x in range(items.size):
        item = items[x]
        rank = rank + 1 if x > 0 and item == items[x - 1] else 1
        d = start[item] + rank - 1
        rows[d] = item
        cols[d] = indicators[x]
        vals[d] = scores[x]
        chan[d] = channel
        ranks[d] = rank
