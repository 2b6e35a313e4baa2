"""Candidate model ``shopscale-blend``: the user's own unpurchased engagement + cross-occurrence.

A prototype for the core engine, written as pure NumPy/SciPy functions over the same inputs
the engines already have (downsampled history, pair counts, LLR from ``recommend.llr``, top-k
from ``recommend.ranking``). Only the **vote matrix** changes; the rank kernel (a weighted sum
of votes over the user's history) stays as it is:

    score(u, i) = sum_c sum_{j in H_c(u)} h_c(u, j) * V_c(j, i)
    h_c(u, j)   = w_c * 0.5 ** (age(u, c, j) / half_life) * 0.5 ** (r(u, c, j) / half_life_events)
    r(u, c, j)  = entries of u's history (every channel) strictly newer than (c, j)
    V_c(j, i)   = T(vote_c(i, j))           for i != j, (i, j) kept in i's top K by LLR
                + gamma * sigma_c(i)         for i == j, c != primary              (self vote)
    sigma_c(i)  = (k11_c(i, i) + m * rho_c) / (n_c(i) + m)     (smoothed conversion rate)
    rho_c       = sum_i k11_c(i, i) / sum_i n_c(i)

``k11_c(i, i)`` is the diagonal of the pair counts the map stage already computes (users who
did ``c`` on i and bought i), ``n_c(i)`` the indicator marginal. So an item the user carted
gets a self vote proportional to how often carting that item ends in a purchase; an action
that never converts (a low MovieLens rating) gets none. ``vote`` is the engine's
(``recommend.ranking.vote_values``: LLR, P(i | j) or their geometric mean); ``T`` is ``llr``
(unchanged), ``sqrt`` (signed root) or ``binary`` (1 for every kept indicator).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from shopscale.config import check_fields
from shopscale.evaluate.data import TrainData
from shopscale.evaluate.metrics import RankedLists
from shopscale.evaluate.models import Exclusion, IntArray, lists_from_scores
from shopscale.recommend.llr import indicator_scores
from shopscale.recommend.params import MAX_LIST, MAX_WEIGHT, Vote
from shopscale.recommend.ranking import (
    decay_weights,
    sequence_weights,
    top_k_per_row,
    unprompted_prior,
    vote_values,
)

Transform = Literal["llr", "sqrt", "binary"]
Repeats = Literal["once", "count", "log"]
RepeatsOn = Literal["all", "self"]


@dataclass(frozen=True)
class BlendParams:
    """Settings of the blended model (the proposed additions to ``RecommendParams``)."""

    weights: dict[str, float] = field(default_factory=dict)
    """Weight w_c of each action's history (default 1)."""
    half_life_days: float | None = None
    half_life_events: float | None = None
    max_items_per_user: int = 500
    max_similar_per_item: int = 50
    transform: Transform = "llr"
    vote: Vote = "geometric"
    """What a kept pair votes with (as ``RecommendParams.vote``)."""
    self_weight: float = 0.0
    """gamma: weight of the self vote; 0 = today's model (cross-occurrence only)."""
    self_prior: float = 10.0
    """m: pseudo-count pulling an item's conversion rate to its action's rate rho_c."""
    keep_self_pairs: bool = True
    """Keep LLR(i, i) of non-primary actions as a cross-occurrence vote (today's model)."""
    unprompted_weight: float = 0.0
    """Weight of the unprompted-purchase prior (as ``RecommendParams.unprompted_weight``)."""
    self_popularity: float = 0.0
    """beta: a self vote is gamma * sigma_c(i) * (1 + beta * buyers(i) / users), so an action
    that never converts (sigma 0) still gives none."""
    repeats: Repeats = "once"
    """How a history entry's events count: ``once`` (today's engine), ``count`` (times the
    number of events of that user, action and item), ``log`` (times 1 + ln(count))."""
    repeats_on: RepeatsOn = "all"
    """Which votes of a history entry the repeat factor multiplies: ``all`` (its self vote
    and the cross-occurrence votes it casts) or ``self`` (only its self vote: repeated
    engagement reorders the user's own items and leaves what they are recommended beyond
    them as it was)."""

    def __post_init__(self) -> None:
        check_fields(self)  # types, Literal choices, finite floats, 64-bit ints
        if self.max_items_per_user < 1:
            raise ValueError(
                f"max_items_per_user must be at least 1, got {self.max_items_per_user}"
            )
        if not 1 <= self.max_similar_per_item <= MAX_LIST:
            k = self.max_similar_per_item
            raise ValueError(f"max_similar_per_item must be in [1, {MAX_LIST:,}], got {k}")
        weights = {
            "self_weight": self.self_weight,
            "unprompted_weight": self.unprompted_weight,
            "self_popularity": self.self_popularity,
        }
        weights.update({f"weights.{action}": w for action, w in self.weights.items()})
        for name, w in weights.items():
            if not 0 <= w <= MAX_WEIGHT:
                raise ValueError(f"{name} must be in [0, {MAX_WEIGHT:g}], got {w}")
        for name in ("self_prior", "half_life_days", "half_life_events"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")


def downsample(latest: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Per row keep the k largest values (most recent times), ties by column asc."""
    m = latest.tocoo()
    order = np.lexsort((m.col, -m.data, m.row))
    rows = m.row[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else rows
    rank = np.arange(rows.size) - np.repeat(starts, np.diff(np.r_[starts, rows.size]))
    keep = order[rank < k]
    return sp.csr_matrix((m.data[keep], (m.row[keep], m.col[keep])), shape=m.shape)


def indicators(
    left: sp.csr_matrix,
    right: sp.csr_matrix,
    n_users: int,
    k: int,
    *,
    zero_diagonal: bool,
    vote: Vote = "llr",
) -> tuple[sp.csr_matrix, npt.NDArray[np.float64]]:
    """Votes of the top-k LLR indicators (rows: primary item i, cols: indicator item j) and
    diag(LᵀR)."""
    counts = (left.T @ right).tocoo()
    row_total = np.asarray(left.sum(axis=0)).ravel().astype(np.int64)
    col_total = np.asarray(right.sum(axis=0)).ravel().astype(np.int64)
    k11 = counts.data.astype(np.int64)
    scores = indicator_scores(k11, row_total[counts.row], col_total[counts.col], n_users)
    if zero_diagonal:
        scores = np.where(counts.row == counts.col, 0.0, scores)
    keep = top_k_per_row(counts.row, counts.col, scores, k)
    diag = np.zeros(left.shape[1])
    on_diag = counts.row == counts.col
    diag[counts.row[on_diag]] = k11[on_diag]
    votes = vote_values(vote, scores[keep], k11[keep], col_total[counts.col[keep]])
    s = sp.csr_matrix((votes, (counts.row[keep], counts.col[keep])), shape=counts.shape)
    return s, diag


def conversion(
    self_counts: npt.NDArray[np.float64], totals: npt.NDArray[np.float64], prior: float
) -> npt.NDArray[np.float64]:
    """sigma(i) = (k11(i,i) + m * rho) / (n(i) + m), rho the pooled rate; 0 where n(i) = 0."""
    rho = float(self_counts.sum() / totals.sum()) if totals.sum() > 0 else 0.0
    out = (self_counts + prior * rho) / np.maximum(totals + prior, 1e-12)
    return np.where(totals > 0, out, 0.0)


def transform(s: sp.csr_matrix, how: Transform) -> sp.csr_matrix:
    """Apply T to the kept LLR scores."""
    s = s.copy()
    if how == "sqrt":
        s.data = np.sqrt(s.data)
    elif how == "binary":
        s.data = np.ones_like(s.data)
    return s


class Blend:
    """Own engagement (self votes by conversion rate) + cross-occurrence, one vote matrix."""

    def __init__(self, **config: object) -> None:
        self.params = BlendParams(**config)  # type: ignore[arg-type]

    def fit(self, train: TrainData) -> None:
        """Build the history matrix H (users x channels*items) and votes V (channels*items x
        items) exactly as the engines lay them out."""
        p = self.params
        self.train = train
        actions = train.events.actions
        hist = {a: downsample(train.latest(a), p.max_items_per_user) for a in actions}
        binary = {a: _binary(m) for a, m in hist.items()}
        n_users = int((np.diff(train.binary().indptr) > 0).sum())
        left = binary[train.primary]
        buyers = np.asarray(left.sum(axis=0)).ravel().astype(np.int64)
        t0 = int(train.events.t.min(initial=0)) - 1
        timed = train.events.has_time
        h_parts, v_parts, s_parts, r_parts, t_parts = [], [], [], [], []
        for a in actions:
            same = a == train.primary
            s, diag = indicators(
                left,
                binary[a],
                n_users,
                p.max_similar_per_item,
                zero_diagonal=same or not p.keep_self_pairs,
                vote=p.vote,
            )
            votes = transform(s, p.transform).T.tocsr()
            own = sp.csr_matrix(votes.shape)
            if not same and p.self_weight > 0:
                totals = np.asarray(binary[a].sum(axis=0)).ravel()
                sigma = conversion(diag, totals, p.self_prior)
                if p.self_popularity > 0:
                    sigma = sigma * (1.0 + p.self_popularity * buyers / n_users)
                own = sp.diags(p.self_weight * sigma).tocsr()
            v_parts.append(votes)
            s_parts.append(own)
            h = hist[a].astype(np.float64)
            h.sort_indices()
            t = h.data.astype(np.int64) + t0
            h.data = p.weights.get(a, 1.0) * decay_weights(
                t, train.t_ref, p.half_life_days if timed else None
            )
            h_parts.append(h)
            if p.repeats != "once":
                r = repeat_factor(train, a, binary[a], p.repeats)
                r_parts.append(sp.csr_matrix((r, h.indices, h.indptr), shape=h.shape))
            t_parts.append(sp.csr_matrix((t, h.indices, h.indptr), shape=h.shape))
        history = sp.hstack(h_parts).tocsr()
        times = sp.hstack(t_parts).tocsr()
        users = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
        history.data = history.data * sequence_weights(
            users, times.data.astype(np.int64), p.half_life_events if timed else None
        )
        repeated = history.multiply(sp.hstack(r_parts)).tocsr() if r_parts else history
        cross, own_votes = sp.vstack(v_parts).tocsr(), sp.vstack(s_parts).tocsr()
        if p.repeats_on == "all":
            # one matrix, as the engine lays it out: self votes on the diagonal
            self.history, self.votes = repeated, (cross + own_votes).tocsr()
            self.own_history, self.own_votes = None, None
        else:
            self.history, self.votes = history, cross
            self.own_history, self.own_votes = repeated, own_votes
        engaged = sum(
            (left.multiply(binary[a]) for a in actions if a != train.primary),
            sp.csr_matrix(left.shape),
        )
        unprompted = buyers - np.asarray((engaged > 0).sum(axis=0)).ravel()
        self.prior = unprompted_prior(
            unprompted, buyers, n_users, p.unprompted_weight, p.max_similar_per_item
        )

    def scores(self, block: IntArray) -> npt.NDArray[np.float64]:
        """prior + H[block] V: the rank stage's weighted sum of votes (with ``repeats_on``
        ``self``, plus the repeat-weighted history times the self votes)."""
        out = self.prior[None, :] + np.asarray((self.history[block] @ self.votes).toarray())
        if self.own_history is not None:
            out += np.asarray((self.own_history[block] @ self.own_votes).toarray())
        return out

    def recommend(self, users: IntArray, exclude: Exclusion, n: int) -> RankedLists:
        """Top n by blended score (> 0), popular backfill."""
        return lists_from_scores(self.scores, self.train, users, exclude.matrix, n)


def repeat_factor(
    train: TrainData, action: str, kept: sp.csr_matrix, how: Repeats
) -> npt.NDArray[np.float64]:
    """Per kept history entry (CSR order, indices sorted): count or 1 + ln(count) of events."""
    kept = kept.copy()
    kept.sort_indices()
    c = kept.multiply(train.counts(action)).tocsr()
    c.sort_indices()
    if not (np.array_equal(c.indptr, kept.indptr) and np.array_equal(c.indices, kept.indices)):
        raise AssertionError("count pattern differs from the history's")
    return c.data if how == "count" else 1.0 + np.log(c.data)


def _binary(m: sp.csr_matrix) -> sp.csr_matrix:
    """0/1 float copy of a sparse matrix."""
    out = sp.csr_matrix(m, dtype=np.float64, copy=True)
    out.data[:] = 1.0
    return out
