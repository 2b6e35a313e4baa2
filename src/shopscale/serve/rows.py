"""Per-user arrays precomputed once per served model, so the request of a user without
posted events only slices them: the user's history entries as the rank stage builds them,
with every factor of their weight except the time decay (which depends on the reference
time, and that moves with posted events), and the items the user must not get.

The arrays hold the values ``LocalEngine._history`` and ``_exclusions`` compute, by the same
functions (``selection``, ``sequence_weights``, ``excluded_keys``) over all users at once; a
request finishes the weight in the batch job's own order of operations (channel weight x
time decay, then x sequence decay), so the floats are the batch job's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shopscale.engine.local.counts import Shard, selection
from shopscale.engine.local.fold import excluded_keys, sorted_unique
from shopscale.recommend.model import ModelState
from shopscale.recommend.ranking import decay_weights, sequence_weights
from shopscale.recommend.rules import extra_events


@dataclass(frozen=True)
class UserRows:
    """CSR over users: history entries (sorted by entry) and excluded items (sorted)."""

    ptr: npt.NDArray[np.int64]
    entry: npt.NDArray[np.int32]
    """channel * n_items + item code: the column of the rank stage's history matrix."""
    channel_weight: npt.NDArray[np.float64]
    t: npt.NDArray[np.int64]
    sequence_weight: npt.NDArray[np.float64]
    repeats: npt.NDArray[np.float64]
    """1, or for an entry of a repeat block (``rules.vote_blocks``) its extra events n - 1:
    the last factor of its weight, as ``rules.history_entries`` applies it."""
    excluded_ptr: npt.NDArray[np.int64]
    excluded: npt.NDArray[np.int32]

    def history(
        self, u: int, t_ref: int, half_life_days: float | None
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
        """User ``u``'s entries and weights seen from reference time ``t_ref``."""
        lo, hi = self.ptr[u], self.ptr[u + 1]
        decay = decay_weights(self.t[lo:hi], t_ref, half_life_days)
        w = self.channel_weight[lo:hi] * decay * self.sequence_weight[lo:hi]
        return self.entry[lo:hi], w * self.repeats[lo:hi]

    def excluded_of(self, u: int) -> npt.NDArray[np.int32]:
        """User ``u``'s excluded item codes, sorted."""
        return self.excluded[self.excluded_ptr[u] : self.excluded_ptr[u + 1]]


def user_rows(state: ModelState) -> UserRows:
    """The arrays of a string-ordered state (every user at once)."""
    params, h = state.params, state.history
    n_users, n_items = len(state.users), len(state.items)
    actions = list(state.actions)
    shard = Shard(0, n_users, h.u, h.a, h.i, h.t)
    parts_u, parts_j, parts_c, parts_t = [], [], [], []
    for c, ch in enumerate(state.channels):
        u, i, t = selection(shard, ch, actions, n_items)
        parts_u.append(u)
        parts_j.append(c * n_items + i.astype(np.int64))
        parts_c.append(np.full(u.size, params.weight(ch), dtype=np.float64))
        parts_t.append(t)
    u, t = np.concatenate(parts_u), np.concatenate(parts_t).astype(np.int64)
    j, cw = np.concatenate(parts_j), np.concatenate(parts_c)
    sequence = sequence_weights(u, t, params.half_life_events)
    extra = extra_events(h.a, h.n, state.channels, actions, params)
    if extra is None:
        extra = np.zeros(u.size, np.int64)
    more = extra > 0  # the repeat entries (``rules.history_entries``) after the others
    repeats = np.r_[np.ones(u.size), extra[more].astype(np.float64)]
    u, t = np.r_[u, u[more]], np.r_[t, t[more]]
    j = np.r_[j, j[more] + len(state.channels) * n_items]
    cw, sequence = np.r_[cw, cw[more]], np.r_[sequence, sequence[more]]
    order = np.argsort(u, kind="stable")  # (user, block, item), as the rank stage
    u, t, j, cw = u[order], t[order], j[order], cw[order]
    keys = excluded_keys(h, params, actions, max(n_items, 1))
    eu, ei = state.excluded
    both = sorted_unique(np.r_[keys, eu.astype(np.int64) * n_items + ei])
    return UserRows(
        ptr=np.searchsorted(u, np.arange(n_users + 1)).astype(np.int64),
        entry=j.astype(np.int32),
        channel_weight=cw,
        t=t,
        sequence_weight=sequence[order],
        repeats=repeats[order],
        excluded_ptr=np.searchsorted(both // max(n_items, 1), np.arange(n_users + 1)).astype(
            np.int64
        ),
        excluded=(both % max(n_items, 1)).astype(np.int32),
    )
