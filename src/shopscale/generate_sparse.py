"""Sparse synthetic logs: the ``longtail`` and ``catalog`` shapes of ``shopscale generate``.

Where the ``bundles`` shape (``generate.py``) gives users dense sessions around complements, these
give what many shops see: few events per user, Zipf-like item popularity and only weak taste
clusters. A view comes from the user's one home category (a "taste cluster", chosen by the
categories' popularity) with a small chance, else from the whole catalogue by popularity; carts
and purchases follow the user's earlier views and carts as in ``bundles``. Users, the block
structure, timestamps and the seeding are the ``bundles`` ones, so the same params give the same
bytes and memory stays bounded by the block size.

- ``longtail``: about 21 events per user, 83 events per item (5M events: 238k users, 60k items),
  a view is in the home category with chance 0.3.
- ``catalog``: a large catalogue, 10 events per user and 10 per item up to 1M items (100M
  events: 10M users, 1M items), home category with chance 0.4.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from shopscale.generate import (
    Catalogue,
    Slots,
    _draw_actions,
    _draw_followers,
    _draw_timestamps,
    _sample_positions,
    make_table,
)


@dataclass(frozen=True)
class SparseShape:
    """The knobs of one sparse shape."""

    home_p: float  # chance that a view is of the user's home category


SHAPES = {"longtail": SparseShape(home_p=0.3), "catalog": SparseShape(home_p=0.4)}

BlockMaker = Callable[[Catalogue, Slots, np.ndarray, int, np.random.Generator], pa.Table]


def block_maker(shape: str) -> BlockMaker:
    """The function that draws one block of users' events for a sparse ``shape``."""
    home_p = SHAPES[shape].home_p

    def make(
        cat: Catalogue, slots: Slots, user_ids: np.ndarray, days: int, rng: np.random.Generator
    ) -> pa.Table:
        return _make_sparse_block(cat, slots, user_ids, days, rng, home_p)

    return make


def _make_sparse_block(
    cat: Catalogue,
    slots: Slots,
    user_ids: np.ndarray,
    days: int,
    rng: np.random.Generator,
    home_p: float,
) -> pa.Table:
    """Draw one block of users' events (weak taste clusters) and return it ordered by time."""
    action = _draw_actions(slots, rng)
    item = _draw_sparse_views(cat, slots, action, rng, home_p)
    _draw_followers(item, slots, action, rng)
    ts = _draw_timestamps(slots, days, rng)
    order = np.argsort(ts, kind="stable")
    return make_table(user_ids[slots.user[order]], action[order], item[order] + 1, ts[order])


def _draw_sparse_views(
    cat: Catalogue, slots: Slots, action: np.ndarray, rng: np.random.Generator, home_p: float
) -> np.ndarray:
    """Items of views: the home category with chance ``home_p``, else anywhere by popularity."""
    n_users = len(slots.counts)
    home = np.searchsorted(cat.cat_cum, rng.random(n_users) * cat.cat_cum[-1], "right")
    home = np.minimum(home, cat.n_categories - 1)
    views = action == 0
    at_home = views & (rng.random(len(action)) < home_p)
    pos = np.full(len(action), -1, dtype=np.int64)
    sel = np.flatnonzero(at_home)
    c = home[slots.user[sel]]
    pos[sel] = _sample_positions(cat, cat.cat_start[c], cat.cat_start[c + 1], rng)
    sel = np.flatnonzero(views & ~at_home)
    everything = np.full(len(sel), len(cat.order))
    pos[sel] = _sample_positions(cat, np.zeros(len(sel), dtype=np.int64), everything, rng)
    return np.where(pos >= 0, cat.order[np.maximum(pos, 0)], -1)
