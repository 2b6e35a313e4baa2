"""What a group of users adds to every count of the model: pair counts per channel, item
marginals, popularity and unprompted purchases.

Every count is a sum over users of a function of that user's downsampled history, so the batch
map adds the counts of each shard of users, and an update subtracts the counts of the users it
touches (their old histories) and adds them again (their new ones), with this same function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from shopscale.engine.local.kernels import contains_sorted
from shopscale.engine.local.reduce import csr_from_sorted
from shopscale.errors import ShopscaleError
from shopscale.recommend.model import Counts, strictly_increasing
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.rules import ANY, channel_rows, left_name

__all__ = [
    "ANY",
    "Shard",
    "channels_for",
    "contains",
    "count_users",
    "left_name",
    "selection",
]


@dataclass
class Shard:
    """Some users' interactions, sorted by (user, action, item); users are local (0-based
    from ``lo``), items and actions are the model's codes."""

    lo: int
    n_users: int
    u: npt.NDArray[np.int32]
    a: npt.NDArray[np.int8]
    i: npt.NDArray[np.int32]
    t: npt.NDArray[np.int64]
    n: npt.NDArray[np.int32] | None = None
    """Events of each row (``repeats``); None where nothing ranks by them."""


def sorted_shard(
    lo: int,
    n_users: int,
    u: npt.NDArray[np.int32],
    a: npt.NDArray[np.int8],
    i: npt.NDArray[np.int32],
    t: npt.NDArray[np.int64],
    n: npt.NDArray[np.int32] | None = None,
) -> Shard:
    """A shard of distinct (user, action, item) rows, sorted by them. ``inter`` is stored in
    that order and DuckDB keeps insertion order, so a scan needs no sort; this checks it (one
    pass) and sorts only rows that come otherwise."""
    if not strictly_increasing(u, a, i):
        order = np.lexsort((i, a, u))
        u, a, i, t = u[order], a[order], i[order], t[order]
        n = None if n is None else n[order]
    return Shard(lo=lo, n_users=n_users, u=u, a=a, i=i, t=t, n=n)


def selection(
    shard: Shard, channel: str, actions: list[str], n_items: int
) -> tuple[npt.NDArray, npt.NDArray, npt.NDArray]:
    """(local user, item, latest time) of one action, or of any action for ``any``; sorted by
    (user, item) (``rules.channel_rows``)."""
    return channel_rows(shard.u, shard.a, shard.i, shard.t, channel, actions, n_items)


def channels_for(params: RecommendParams, actions: list[str]) -> list[str]:
    """Indicator actions (LLR) in action order, or the single ``any`` channel (classic)."""
    if params.similarity != "llr":
        return [ANY]
    if params.primary not in actions:
        raise ShopscaleError(
            f"primary action {params.primary!r} does not occur in the data "
            f"(actions seen: {', '.join(actions)}); set it with --primary or [recommend] primary"
        )
    wanted = list(params.indicators) or actions
    unknown = [a for a in wanted if a not in actions]
    if unknown:
        raise ShopscaleError(
            f"indicator action(s) {', '.join(unknown)} do not occur in the data "
            f"(actions seen: {', '.join(actions)})"
        )
    return [a for a in actions if a in wanted]


def count_users(
    shard: Shard,
    actions: list[str],
    channels: list[str],
    n_items: int,
    params: RecommendParams,
) -> Counts:
    """Every count of the model over the users of one shard: left^T @ right per channel,
    marginals, popularity and unprompted purchases (the primary action on an item with no
    other indicator action on it)."""
    counts = Counts.zeros(n_items, [])
    left = left_name(params)
    engaging = [ch for ch in channels if ch not in (left, ANY)]
    lu, li, _ = selection(shard, left, actions, n_items)
    left_m = csr_from_sorted(lu, li, shard.n_users, n_items)
    left_counts = np.bincount(li, minlength=n_items)
    counts.left_total += left_counts
    left_t = left_m.T.tocsr()
    left_key = lu.astype(np.int64) * n_items + li
    engaged = np.zeros(left_key.size, dtype=bool)
    for ch in channels:
        ru, ri, _ = (lu, li, None) if ch == left else selection(shard, ch, actions, n_items)
        right = left_m if ch == left else csr_from_sorted(ru, ri, shard.n_users, n_items)
        counts.right_total[ch] = np.bincount(ri, minlength=n_items).astype(np.int64)
        counts.k11[ch] = left_t @ right
        if ch in engaging:  # a primary pair this user also engaged with otherwise
            engaged |= contains(ru.astype(np.int64) * n_items + ri, left_key)
    counts.unprompted += np.bincount(li[~engaged], minlength=n_items)
    # popularity reuses the left side's counts when it is the same selection
    for name, pop in ((ANY, counts.pop_any), (params.primary, counts.pop_primary)):
        if name == left:
            pop += left_counts
        elif name == ANY or name in actions:
            pop += np.bincount(selection(shard, name, actions, n_items)[1], minlength=n_items)
    return counts


def add_marginals(totals: Counts, part: Counts) -> None:
    """Add every count of ``part`` but its pair counts (the map stage stores those by item
    shard, ``pairs.PairStore``)."""
    for ch, right in part.right_total.items():
        totals.right_total[ch] += right
    for name in ("left_total", "pop_any", "pop_primary", "unprompted"):
        getattr(totals, name)[:] += getattr(part, name)


def contains(
    sorted_keys: npt.NDArray[np.int64], keys: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Whether each key occurs in ``sorted_keys`` (ascending): a binary search per key, far
    cheaper than ``np.isin`` when ``sorted_keys`` (a shard's views) dwarfs ``keys``."""
    if sorted_keys.size == 0:
        return np.zeros(keys.size, dtype=bool)
    if keys.size > 1 and bool(np.all(keys[1:] >= keys[:-1])):
        return contains_sorted(sorted_keys, keys)  # ascending keys: one merge walk
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return sorted_keys[pos] == keys
