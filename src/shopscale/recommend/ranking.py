"""Ranking rules both engines follow: top-k per row, classic similarities, time and
sequence decay.

Ties are always broken by item id in string order. Engines encode ids so that integer code
order *is* string order (see ``shopscale.ids``), so these functions break ties by code.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from shopscale.recommend.llr import llr, positively_associated
from shopscale.recommend.params import Similarity, Vote

SECONDS_PER_DAY = 86_400.0
UNPROMPTED_MIN_LLR = 10.83
"""G^2 an item's unprompted purchases must reach to earn a prior: chi-squared, 1 degree of
freedom, p = 0.001. Thousands of items are tested at once, so chance excesses must not pass."""


def top_k_per_row(
    rows: npt.NDArray[np.integer],
    cols: npt.NDArray[np.integer],
    scores: npt.NDArray[np.floating],
    k: int,
) -> npt.NDArray[np.int64]:
    """Indices of the entries kept: per row the k best by score desc, col asc; score > 0 only."""
    keep = np.flatnonzero(scores > 0)
    if keep.size == 0:
        return keep.astype(np.int64)
    order = np.lexsort((cols[keep], -scores[keep], rows[keep]))
    sorted_idx = keep[order]
    r = rows[sorted_idx]
    starts = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    run_lengths = np.diff(np.r_[starts, r.size])
    rank_in_row = np.arange(r.size) - np.repeat(starts, run_lengths)
    return sorted_idx[rank_in_row < k].astype(np.int64)


def rank_in_rows(rows: npt.NDArray[np.integer]) -> npt.NDArray[np.int32]:
    """1-based position of each entry within its run of equal (sorted) row values."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int32)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    run_lengths = np.diff(np.r_[starts, rows.size])
    return (np.arange(rows.size) - np.repeat(starts, run_lengths) + 1).astype(np.int32)


def classic_scores(
    method: Similarity,
    count: npt.NDArray[np.integer],
    n_i: npt.NDArray[np.integer],
    n_j: npt.NDArray[np.integer],
    n_users: int,
) -> npt.NDArray[np.float64]:
    """Similarity of items i and j from co-occurrence ``count`` and item user counts."""
    c = count.astype(np.float64)
    a = n_i.astype(np.float64)
    b = n_j.astype(np.float64)
    if method == "count":
        return c
    if method == "cosine":
        return c / np.sqrt(a * b)
    if method == "jaccard":
        return c / (a + b - c)
    if method == "lift":
        return c * float(n_users) / (a * b)
    raise ValueError(f"not a classic similarity: {method!r}")


def vote_values(
    vote: Vote,
    llr_scores: npt.NDArray[np.floating],
    k11: npt.NDArray[np.integer],
    n_j: npt.NDArray[np.integer],
) -> npt.NDArray[np.float64]:
    """What each kept indicator pair (i, j) votes with: its LLR, P(i | j) = k11 / n(j) (how
    often the indicator j was followed by i), or the geometric mean sqrt(LLR * P(i | j)).

    LLR alone grows with how common a pair is, so popular indicators outvote specific ones;
    P(i | j) alone ignores how surprising the pair is; the geometric mean keeps both.
    """
    s = np.asarray(llr_scores, dtype=np.float64)
    if vote == "llr":
        return s
    p = np.asarray(k11, dtype=np.float64) / np.maximum(np.asarray(n_j, dtype=np.float64), 1.0)
    if vote == "conditional":
        return p
    if vote == "geometric":
        return np.sqrt(np.maximum(s, 0.0) * p)
    raise ValueError(f"unknown vote {vote!r}")


def self_conversion(
    self_counts: npt.NDArray[np.integer], totals: npt.NDArray[np.integer], prior: float
) -> npt.NDArray[np.float64]:
    """Smoothed rate at which doing an action on item i ends in the primary action on i.

    sigma(i) = (k11(i, i) + m * rho) / (n(i) + m) with rho = sum k11(i, i) / sum n(i), the
    action's pooled rate; 0 where nobody did the action on i. ``self_counts`` are users who did
    the action and the primary action on i, ``totals`` users who did the action on i.
    """
    k = np.asarray(self_counts, dtype=np.float64)
    n = np.asarray(totals, dtype=np.float64)
    total = float(n.sum())
    rho = float(k.sum()) / total if total > 0 else 0.0
    rate = (k + prior * rho) / np.maximum(n + prior, 1e-12)
    return np.where(n > 0, rate, 0.0)


def unprompted_prior(
    unprompted: npt.NDArray[np.integer],
    buyers: npt.NDArray[np.integer],
    n_users: int,
    weight: float,
    limit: int,
) -> npt.NDArray[np.float64]:
    """Per item, the score every user's list starts from: weight * excess unprompted buyers
    per user, for items bought without any other indicator action by the buyer far more
    often than the log's average (add-ons, checkout items); 0 for every other item. At most
    ``limit`` items get a prior (the largest, ties by item), so a log with many such items
    cannot flood every list or the rank stage's inner loop.

    ``unprompted[i]``: users who did the primary action on i and no other indicator action
    on i; ``buyers[i]``: users who did the primary action on i. With share s = sum unprompted /
    sum buyers, the excess is unprompted - s * buyers, kept only where item i's unprompted
    share is positively associated with i at G^2 >= ``UNPROMPTED_MIN_LLR`` (a 2x2 table of
    unprompted vs engaged purchases, item i vs every other item). A log where every purchase
    is unprompted (nothing but the primary action, or MovieLens-like ratings) gives 0 for all.
    """
    k = np.asarray(unprompted, dtype=np.int64)
    b = np.asarray(buyers, dtype=np.int64)
    total_k, total_b = int(k.sum()), int(b.sum())
    if weight <= 0 or total_b == 0 or n_users <= 0:
        return np.zeros(k.shape, dtype=np.float64)
    table = (k, b - k, total_k - k, (total_b - total_k) - (b - k))
    significant = positively_associated(*table) & (llr(*table) >= UNPROMPTED_MIN_LLR)
    excess = k - (total_k / total_b) * b
    prior = np.where(significant, weight * excess / n_users, 0.0)
    lifted = np.flatnonzero(prior > 0)
    if lifted.size > limit:
        keep = lifted[np.lexsort((lifted, -prior[lifted]))[:limit]]
        capped = np.zeros_like(prior)
        capped[keep] = prior[keep]
        return capped
    return prior


def decay_weights(
    t: npt.NDArray[np.int64], t_ref: int, half_life_days: float | None
) -> npt.NDArray[np.float64]:
    """Weight 0.5 ** (age / half-life) of events at times ``t`` seen from ``t_ref``; all 1
    when ``half_life_days`` is None or 0 (no decay)."""
    if not half_life_days:
        return np.ones(t.shape, dtype=np.float64)
    age_days = np.maximum(t_ref - t, 0).astype(np.float64) / SECONDS_PER_DAY
    return np.power(0.5, age_days / half_life_days)


def sequence_weights(
    users: npt.NDArray[np.integer], t: npt.NDArray[np.int64], half_life_events: float | None
) -> npt.NDArray[np.float64]:
    """Weight 0.5 ** (r / half-life) of each history entry, r = how many of the same user's
    entries (any action) are strictly newer: the user's own latest events count most, however
    long ago they were. Equal times share a rank, so the weights need no tie-break. All 1 when
    ``half_life_events`` is None or 0."""
    if not half_life_events or t.size == 0:
        return np.ones(t.shape, dtype=np.float64)
    # entries arrive as a few runs sorted by user (one per channel): a stable sort merges them
    order = np.argsort(users, kind="stable")
    newer = _newer_counts(users[order], t[order])  # gathers: new contiguous arrays
    # one power per distinct count (the same operation on the same numbers: the same bits)
    weight = np.power(0.5, np.arange(int(newer.max()) + 1) / half_life_events)
    out = np.empty(t.shape, dtype=np.float64)
    out[order] = weight[newer]
    return out


@numba.njit(cache=True, nogil=True)
def _newer_counts(users, t):
    """Per entry (grouped by user), how many of its user's entries have a strictly later
    time: per user, a direct count when it has few entries (most users), one sort when many;
    never one sort of every entry by (user, time)."""
    out = np.empty(t.size, dtype=np.int64)
    lo = 0
    while lo < t.size:
        hi = lo + 1
        while hi < t.size and users[hi] == users[lo]:
            hi += 1
        if hi - lo <= 32:
            for x in range(lo, hi):
                newer = 0
                for y in range(lo, hi):
                    if t[y] > t[x]:
                        newer += 1
                out[x] = newer
        else:
            by_time = np.argsort(-t[lo:hi], kind="mergesort")  # newest first
            first = 0  # place (newest first) of the first entry with this time
            for k in range(hi - lo):
                if k > 0 and t[lo + by_time[k]] != t[lo + by_time[k - 1]]:
                    first = k
                out[lo + by_time[k]] = first
        lo = hi
    return out


def reference_top_n(
    scores: dict[int, float], exclude: set[int], popular: list[int], n: int, backfill: bool
) -> list[tuple[int, float, str]]:
    """The slow, obviously correct top-n of one user: (item, score, source) tuples.

    Candidates with score > 0 not excluded, best first, ties by item; then popular items
    (not excluded, not already listed) as backfill until the list has n entries.
    """
    ranked = sorted(
        ((i, s) for i, s in scores.items() if s > 0 and i not in exclude),
        key=lambda p: (-p[1], p[0]),
    )[:n]
    out = [(i, s, "model") for i, s in ranked]
    if backfill:
        chosen = {i for i, _ in ranked}
        for item in popular:
            if len(out) >= n:
                break
            if item not in exclude and item not in chosen:
                out.append((item, 0.0, "backfill"))
                chosen.add(item)
    return out
