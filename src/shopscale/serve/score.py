"""A user's list at request time, by the batch rank stage's own functions: the user's
history (the model's rows merged with posted, not yet folded events by the fold's window
rules), the same channel weights and decays, the same exclusions, one user through
``kernels.score_user`` (the block kernel of the batch ``score_users``) with the same votes,
prior and backfill. A user without posted events (nearly every request) only slices the
arrays ``serve.rows`` precomputed for the served model.

Posted events may name items the model does not know yet: they take part in the window and
in the sequence decay (as they will after the fold), but vote for nothing until folded.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shopscale.engine.local.fold import excluded_keys, window
from shopscale.engine.local.kernels import score_user
from shopscale.recommend.model import History
from shopscale.recommend.rules import history_entries
from shopscale.serve.served import Served

Posted = tuple[str, str, int]
"""A posted event of one user: action (canonical), item_id, t."""


@dataclass(frozen=True)
class Entry:
    """One list entry."""

    item_id: str
    score: float
    source: str


def code_of(ids: list[str], value: str) -> int:
    """Code of an id in a sorted id list, or -1."""
    k = bisect.bisect_left(ids, value)
    return k if k < len(ids) and ids[k] == value else -1


@dataclass(frozen=True)
class UserView:
    """A user's rows in local item codes (the string order of the items involved)."""

    history: History
    """After the fold's dedup and window rules: what the model will hold after a fold."""
    ever: History
    """Every row before the window (the model's and the posted ones): what excludes."""
    items: list[str]
    model_code: npt.NDArray[np.int32]
    """Model code of each local item, -1 for items the model does not know."""
    actions: list[str]


def user_view(served: Served, user_id: str, posted: Sequence[Posted]) -> UserView:
    """The rows of a user with posted events: the model's merged with the posted ones as a
    fold merges them."""
    s = served.state
    u = served.user_code(user_id)
    lo, hi = (int(served.user_ptr[u]), int(served.user_ptr[u + 1])) if u >= 0 else (0, 0)
    # the rows the window dropped come back with their events if a posted one beats it
    d_lo, d_hi = (int(x) for x in np.searchsorted(s.dropped.u, [u, u + 1])) if u >= 0 else (0, 0)
    held = s.history.take(slice(lo, hi))
    gone = s.dropped.take(slice(d_lo, d_hi))
    base = [served.items[i] for i in np.r_[held.i, gone.i].tolist()]
    names = sorted(set(base) | {p[1] for p in posted})
    local = {name: k for k, name in enumerate(names)}
    actions = list(s.actions) + sorted({p[0] for p in posted} - set(s.actions))
    ever = History(
        np.zeros(len(base) + len(posted), dtype=np.int32),
        np.r_[held.a, gone.a, [actions.index(p[0]) for p in posted]].astype(np.int8),
        np.array([local[x] for x in base] + [local[p[1]] for p in posted], dtype=np.int32),
        np.r_[held.t, gone.t, [p[2] for p in posted]].astype(np.int64),
        np.r_[held.n, gone.n, np.ones(len(posted))].astype(np.int32),
    )
    merged = window(ever, s.params.max_items_per_user, np.arange(len(names), dtype=np.int32))
    codes = np.array([code_of(served.items, name) for name in names], dtype=np.int32)
    return UserView(merged, ever, names, codes, actions)


def exclusions(served: Served, user_id: str, view: UserView) -> npt.NDArray[np.int32]:
    """Model codes the user must not get: what the batch job excludes (every event of the
    excluded kind, also those downsampling dropped)."""
    s = served.state
    keys = excluded_keys(view.ever, s.params, view.actions, max(len(view.items), 1))
    mine = view.model_code[keys] if keys.size else np.zeros(0, np.int32)
    u = served.user_code(user_id)
    extra = np.zeros(0, np.int32)
    if u >= 0:
        extra = s.excluded[1][served.excluded_ptr[u] : served.excluded_ptr[u + 1]]
    both = np.union1d(mine.astype(np.int64), extra.astype(np.int64))
    return both[both >= 0].astype(np.int32)


def history_csr(
    served: Served, view: UserView, t_ref: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """One user's history as the rank stage weighs it (``LocalEngine._history``): channel
    weight x time decay x sequence decay; entries of unknown items dropped after the
    sequence decay counted them; sorted by entry."""
    s = served.state
    n_items, n_local = len(served.items), max(len(view.items), 1)
    h = view.history
    _, local, w = history_entries(
        h.u, h.a, h.i, h.t,
        actions=view.actions, channels=list(s.channels), n_items=n_local, t_ref=t_ref,
        params=s.params, n=h.n,
    )  # fmt: skip
    block, i = np.divmod(local, n_local)
    code = view.model_code[i].astype(np.int64)
    j = np.where(code >= 0, block * n_items + code, -1)
    keep = j >= 0
    j, w = j[keep], w[keep]
    order = np.argsort(j, kind="stable")
    return j[order].astype(np.int32), w[order].astype(np.float64)


def recommend(
    served: Served,
    user_id: str,
    posted: Sequence[Posted],
    *,
    t_ref: int,
    n: int,
    blocked: npt.NDArray[np.int32],
) -> list[Entry]:
    """The user's top n now; ``blocked``: sorted model codes no list may show (request
    filters, sold-out items)."""
    u = served.user_code(user_id)
    params = served.state.params
    if posted:
        view = user_view(served, user_id, posted)
        history = history_csr(served, view, t_ref)
        excl = exclusions(served, user_id, view)
    elif u >= 0:
        history = served.rows.history(u, t_ref, params.half_life_days)
        excl = served.rows.excluded_of(u)
    else:
        history, excl = (np.zeros(0, np.int32), np.zeros(0)), np.zeros(0, np.int32)
    if blocked.size:
        excl = np.union1d(excl, blocked).astype(np.int32)
    ind = served.indicators
    items, scores, source = score_user(
        history,
        ind.votes,
        excl,
        ind.popular,
        n_items=len(served.items),
        n=n,
        backfill=params.backfill,
        prior=ind.prior,
    )
    names = served.items
    return [
        Entry(names[i], sc, "model" if src == 1 else "backfill")
        for i, sc, src in zip(items.tolist(), scores.tolist(), source.tolist(), strict=True)
        if src != 0
    ]
