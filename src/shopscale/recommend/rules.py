"""Rules every engine must apply identically, as pure functions over NumPy arrays.

The local engine calls them over a shard of users held in NumPy, the Spark engine over a
partition of users or item pairs inside ``mapInPandas``; a rule written once here cannot drift
between engines. Codes are in id string order, so "ties by id" compares codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shopscale.recommend.llr import indicator_scores
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.ranking import (
    classic_scores,
    decay_weights,
    rank_in_rows,
    self_conversion,
    sequence_weights,
    unprompted_prior,
)

ANY = "any"
"""The channel of every action together (classic similarities; ``exclude = "any"``)."""
RECENT_FIRST = "t DESC, i ASC"
"""Downsampling order within one (user, action), as SQL both DuckDB and Spark SQL run: the
most recent distinct items first, ties by item id (its string-order code)."""


def recent_kept(
    group: npt.NDArray[np.integer],
    t: npt.NDArray[np.int64],
    i: npt.NDArray[np.integer],
    keep: int,
    item_rank: npt.NDArray[np.integer] | None = None,
) -> npt.NDArray[np.bool_]:
    """Downsampling (``RECENT_FIRST`` in NumPy): which rows of a distinct history sorted by
    ``group`` (one per (user, action)) stay: in each group of more than ``keep`` rows, the
    ``keep`` most recent, ties by the item's string order (``item_rank[i]``; the code
    itself when the codes are in string order)."""
    kept = np.ones(group.size, dtype=bool)
    if group.size <= keep:
        return kept
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, group.size])
    if not np.any(sizes > keep):
        return kept
    rows = np.flatnonzero(np.repeat(sizes > keep, sizes))
    ties = i[rows] if item_rank is None else item_rank[i[rows]]
    order = rows[np.lexsort((ties, -t[rows], group[rows]))]
    kept[order[rank_in_rows(group[order]) > keep]] = False
    return kept


def left_name(params: RecommendParams) -> str:
    """The left side of every pair: the primary action (LLR) or any action (classic)."""
    return ANY if params.similarity != "llr" else params.primary


def self_votes_on(params: RecommendParams, channel: str) -> bool:
    """Whether ``channel``'s history votes for the item itself (LLR mode, not the primary)."""
    return params.similarity == "llr" and params.self_weight > 0 and channel != params.primary


def repeats_on(params: RecommendParams) -> bool:
    """Whether own engagement counts every event (``repeats = "count"`` with self votes)."""
    return params.repeats == "count" and params.similarity == "llr" and params.self_weight > 0


def vote_blocks(channels: list[str], params: RecommendParams) -> int:
    """Row blocks of the vote matrix (each ``n_items`` rows): one per channel, and with
    ``repeats`` one more per channel holding only its self votes (block ``len(channels) + c``,
    row i votes for i): a history entry seen n times adds n - 1 entries' worth of its self
    vote through that block, so every rank kernel stays a plain weighted sum of rows."""
    return len(channels) * (2 if repeats_on(params) else 1)


def zero_diagonal(params: RecommendParams, channel: str) -> bool:
    """Whether the pair (i, i) scores 0 in ``channel``: for classic similarities, in the
    primary channel, and in every channel while self votes are on (an item's own engagement
    then votes through its conversion rate instead)."""
    return params.similarity != "llr" or channel == params.primary or params.self_weight > 0


def excluded_actions(params: RecommendParams, actions: list[str]) -> list[int] | None:
    """Action codes whose items a user is never shown: None means every action (``any``),
    an empty list means nothing (``none``, or a primary action absent from the data)."""
    if params.exclude == "any":
        return None
    if params.exclude == "primary" and params.primary in actions:
        return [actions.index(params.primary)]
    return []


def excluded_rows(a: npt.NDArray[np.integer], excluded: list[int] | None) -> npt.NDArray[np.bool_]:
    """Whether each history row's action is one whose items are never shown
    (``excluded_actions``: None means every action)."""
    return np.ones(a.size, dtype=bool) if excluded is None else np.isin(a, excluded)


def popularity_order(
    pop_any: npt.NDArray[np.integer], pop_primary: npt.NDArray[np.integer]
) -> npt.NDArray[np.int32]:
    """Backfill order: users with the primary action, then users with any action, then item
    id; only items seen after downsampling."""
    order = np.lexsort((np.arange(pop_any.size), -pop_any, -pop_primary))
    return order[pop_any[order] > 0].astype(np.int32)


@dataclass(frozen=True)
class PairScoring:
    """What scoring one channel's pairs needs besides k11: the marginals and N.

    ``left_total[i]``: users who did the primary action on i; ``right_total[j]``: users who
    did this channel's action on j; ``n_users``: N; ``zero_diagonal``: pairs (i, i) score 0.
    """

    left_total: npt.NDArray[np.int64]
    right_total: npt.NDArray[np.int64]
    n_users: int
    zero_diagonal: bool


def pair_scores(
    rows: npt.NDArray,
    cols: npt.NDArray,
    k11: npt.NDArray,
    scoring: PairScoring,
    params: RecommendParams,
) -> npt.NDArray[np.float64]:
    """LLR (or a classic similarity) of each pair (rows[p], cols[p]) with count k11[p]."""
    left, right = scoring.left_total[rows], scoring.right_total[cols]
    if params.similarity == "llr":
        scores = indicator_scores(k11, left, right, scoring.n_users)
    else:
        scores = classic_scores(params.similarity, k11, left, right, scoring.n_users)
    if scoring.zero_diagonal:
        scores = np.where(rows == cols, 0.0, scores)
    return scores


def self_vote_values(
    diag: npt.NDArray[np.integer], right_total: npt.NDArray[np.int64], params: RecommendParams
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """(item, self_weight * conversion rate) of every item with a positive rate, from the
    diagonal k11(i, i) of a channel's pair counts: an engaged, unbought item votes for itself."""
    rate = self_conversion(np.asarray(diag, dtype=np.int64), right_total, params.self_prior)
    items = np.flatnonzero(rate > 0).astype(np.int32)
    return items, params.self_weight * rate[items]


def history_entries(
    u: npt.NDArray[np.int32],
    a: npt.NDArray[np.int8],
    i: npt.NDArray[np.int32],
    t: npt.NDArray[np.int64],
    *,
    actions: list[str],
    channels: list[str],
    n_items: int,
    t_ref: int,
    params: RecommendParams,
    n: npt.NDArray[np.int32] | None = None,
) -> tuple[npt.NDArray, npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(user, block * n_items + item, weight) of every vote of some users' histories, sorted
    by (user, block, item): each channel's weight times time and sequence decay (the sequence
    runs over the user's entries of every channel). Rows must be sorted by (u, a, i).

    With ``repeats`` (``n``: each row's events), an entry of a self-voting channel c seen
    n > 1 times also gets an entry in block ``len(channels) + c`` (``vote_blocks``) weighing
    its weight times n - 1: its self vote then counts n times, its other votes once."""
    parts_u, parts_j, parts_w, parts_t = [], [], [], []
    extra = extra_events(a, n, channels, actions, params)
    for c, ch in enumerate(channels):
        cu, ci, ct = channel_rows(u, a, i, t, ch, actions, n_items)
        parts_u.append(cu)
        parts_j.append(c * n_items + ci.astype(np.int64))
        parts_w.append(params.weight(ch) * decay_weights(ct, t_ref, params.half_life_days))
        parts_t.append(ct)
    uu = np.concatenate(parts_u)
    jj = np.concatenate(parts_j)
    w = np.concatenate(parts_w) * sequence_weights(
        uu, np.concatenate(parts_t), params.half_life_events
    )
    if extra is not None:
        more = extra > 0
        uu = np.concatenate([uu, uu[more]])
        jj = np.concatenate([jj, jj[more] + len(channels) * n_items])
        w = np.concatenate([w, w[more] * extra[more]])
    # each part is sorted by (user, item) and parts come in block order, so a stable
    # sort by user (a merge of sorted runs) gives (user, block, item) order
    order = np.argsort(uu, kind="stable")
    return uu[order], jj[order], w[order]


def extra_events(
    a: npt.NDArray[np.int8],
    n: npt.NDArray[np.int32] | None,
    channels: list[str],
    actions: list[str],
    params: RecommendParams,
) -> npt.NDArray[np.int64] | None:
    """Per history entry, channel after channel (each in ``channel_rows`` order), its events
    after the first where the channel votes for itself and 0 elsewhere: the weight factor
    of its repeat entry (``history_entries``). None without ``repeats``; rows sorted by
    (u, a, i), ``n`` each row's events."""
    if not repeats_on(params):
        return None
    if n is None:
        raise ValueError("repeats need the history's event counts")
    parts = [np.zeros(0, np.int64)]
    for ch in channels:  # with repeats (LLR), every channel is one action
        mine = n[a == actions.index(ch)].astype(np.int64)
        parts.append(mine - 1 if self_votes_on(params, ch) else np.zeros_like(mine))
    return np.concatenate(parts)


def channel_rows(
    u: npt.NDArray,
    a: npt.NDArray,
    i: npt.NDArray,
    t: npt.NDArray,
    channel: str,
    actions: list[str],
    n_items: int,
) -> tuple[npt.NDArray, npt.NDArray, npt.NDArray]:
    """(user, item, latest time) of one action, or of any action for ``any``; sorted by
    (user, item)."""
    if channel != ANY:
        mask = a == actions.index(channel)
        return u[mask], i[mask], t[mask]
    # the rows are runs sorted by (user, item), one per action of a user: a stable sort
    # merges them; of a (user, item) seen under several actions the latest time is kept
    key = u.astype(np.int64) * n_items + i
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    if not key.size:
        return u[:0], i[:0], t[:0]
    first = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
    pick = order[first]
    latest = np.maximum.reduceat(t[order], first)
    return u[pick], i[pick], latest


def prior_votes(
    unprompted: npt.NDArray[np.integer],
    buyers: npt.NDArray[np.integer],
    n_users: int,
    params: RecommendParams,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """(item, prior) of every item the unprompted-purchase prior lifts (LLR mode only): what
    the rank kernel adds for every user before history votes (``ranking.unprompted_prior``)."""
    if params.similarity != "llr":
        return np.zeros(0, np.int32), np.zeros(0)
    prior = unprompted_prior(
        unprompted, buyers, n_users, params.unprompted_weight, params.max_similar_per_item
    )
    items = np.flatnonzero(prior > 0).astype(np.int32)
    return items, prior[items]
