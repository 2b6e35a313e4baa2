"""Synthetic shop action logs whose co-interaction structure a recommender can learn.

The model, in the order the code draws it:

- items have a Zipf-like popularity and belong to latent categories, cut into small bundles
  (complements: a lamp and its bulbs);
- users have a heavy-tailed activity (log-normal) and 1 to 3 category interests;
- each user's events are a time-ordered stream of sessions; an event is ``viewed`` (about 85%),
  ``carted`` (10%) or ``purchased`` (5%). A view is an item of one of the user's categories,
  a popular item from anywhere, a bundle partner of the user's last "anchor" view, or a
  re-view; a cart is a recently viewed item; a purchase is a recently carted item (or a viewed
  one when nothing was carted yet).

This is the ``bundles`` shape; ``shape="longtail"`` and ``shape="catalog"`` draw sparse logs
with the same users, blocks and timestamps (``generate_sparse.py``).

Users are processed in blocks of about ``chunk_events`` events; each block has its own seeded
random stream, so the same params give the same rows, and rows within a block are ordered by
time. Everything is vectorised NumPy: no Python loop runs per user or per event.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from gzip import GzipFile
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shopscale._event_writers import COLUMNS, WRITERS
from shopscale.config import check_fields
from shopscale.log import get_logger

log = get_logger("generate")

Format = Literal["csv", "jsonl", "parquet"]
Shape = Literal["bundles", "longtail", "catalog"]
SHAPES: tuple[Shape, ...] = ("bundles", "longtail", "catalog")
# Default sizes per shape: events per user, events per item, at most this many items.
_SIZES: dict[str, tuple[int, int, int | None]] = {
    "bundles": (20, 100, None),
    "longtail": (21, 83, None),
    "catalog": (10, 10, 1_000_000),
}
ACTIONS = ("viewed", "carted", "purchased")
START_EPOCH_S = 1_704_067_200  # 2024-01-01T00:00:00Z
_ACTION_P = (0.85, 0.084, 0.066)  # before turning cart-less purchases into carts
_CART_FIRST_P = 0.7  # a purchase with no cart before it becomes a cart with this chance
_VIEW_KIND_P = (0.55, 0.12, 0.18, 0.15)  # interest, popular, bundle partner, re-view
_BUNDLE_SIZE = 4
_SESSION_P = 0.2  # chance that an event starts a new session
_IN_SESSION_GAP_S = 90.0
_SESSION_GAP_S = 2 * 86_400.0
_GZIP_LEVEL = 1  # fast: 10M events in about 10 s, files 20% larger than level 6


@dataclass(frozen=True)
class GenerateParams:
    """What to generate: sizes, the time span and the seed."""

    events: int = 1_000_000
    users: int | None = None
    items: int | None = None
    days: int = 30
    seed: int = 42
    zipf: float = 1.0
    chunk_events: int = 1_000_000
    shape: Shape = "bundles"

    def __post_init__(self) -> None:
        """Reject sizes that cannot make a log."""
        check_fields(self)  # types, finite floats, 64-bit ints
        if self.events < 1:
            raise ValueError("events must be at least 1")
        if self.users is not None and self.users < 1:
            raise ValueError("users must be at least 1")
        if self.items is not None and self.items < _BUNDLE_SIZE:
            raise ValueError(f"items must be at least {_BUNDLE_SIZE}")
        if self.days < 1:
            raise ValueError("days must be at least 1")
        if self.chunk_events < 1:
            raise ValueError("chunk_events must be at least 1")

    @property
    def n_users(self) -> int:
        """Users: given, or one per 20 events (``longtail``: 21, ``catalog``: 10)."""
        per_user = _SIZES[self.shape][0]
        return self.users if self.users is not None else max(1, self.events // per_user)

    @property
    def n_items(self) -> int:
        """Items: given, or one per 100 events (``longtail``: 83; ``catalog``: 10, at most
        1M), and at least 50."""
        if self.items is not None:
            return self.items
        _, per_item, most = _SIZES[self.shape]
        n = max(50, self.events // per_item)
        return n if most is None else min(n, most)


@dataclass(frozen=True)
class Catalogue:
    """Items sorted by category, with cumulative popularity for sampling by search."""

    order: np.ndarray  # item index at each sorted position
    cum_weight: np.ndarray  # cumulative popularity over sorted positions
    cat_start: np.ndarray  # first sorted position of each category (plus the end)
    cat_cum: np.ndarray  # cumulative popularity of the categories

    @property
    def n_categories(self) -> int:
        """Number of categories."""
        return len(self.cat_start) - 1


def make_catalogue(n_items: int, zipf: float, rng: np.random.Generator) -> Catalogue:
    """Zipf-sized, Zipf-popular categories; inside each, Zipf popularity over random ranks."""
    n_cat = max(2, n_items // 200)
    cat_p = 1.0 / np.arange(1, n_cat + 1) ** 0.7
    cat_p /= cat_p.sum()
    category = rng.choice(n_cat, size=n_items, p=cat_p)
    perm = rng.permutation(n_items)
    order = perm[np.argsort(category[perm], kind="stable")]
    counts = np.bincount(category, minlength=n_cat)
    cat_start = np.concatenate(([0], np.cumsum(counts)))
    sorted_cat = category[order]
    rank = np.arange(n_items) - cat_start[sorted_cat] + 1
    inner = 1.0 / rank.astype(np.float64) ** zipf
    inner_total = np.bincount(sorted_cat, weights=inner, minlength=n_cat)
    cat_w = np.where(counts > 0, cat_p, 0.0)
    cat_w /= cat_w.sum()
    weight = cat_w[sorted_cat] * inner / inner_total[sorted_cat]
    return Catalogue(order, np.cumsum(weight), cat_start, np.cumsum(cat_w))


def _sample_positions(
    cat: Catalogue, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Sorted positions in ``[lo, hi)`` drawn by popularity (``hi > lo``)."""
    base = np.concatenate(([0.0], cat.cum_weight))
    target = base[lo] + rng.random(len(lo)) * (base[hi] - base[lo])
    pos = np.searchsorted(cat.cum_weight, target, side="right")
    return np.clip(pos, lo, hi - 1)


def events_per_user(params: GenerateParams, rng: np.random.Generator) -> np.ndarray:
    """Heavy-tailed (log-normal) activity; every user acts at least once when events allow."""
    n_users = params.n_users
    p = rng.lognormal(0.0, 1.0, n_users)
    p /= p.sum()
    base = 1 if params.events >= n_users else 0
    return base + rng.multinomial(params.events - base * n_users, p)


def iter_event_blocks(params: GenerateParams) -> Iterator[pa.Table]:
    """Yield the log as Arrow tables of about ``chunk_events`` rows, users in blocks."""
    rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(0,)))
    cat = make_catalogue(params.n_items, params.zipf, rng)
    counts = events_per_user(params, rng)
    ends = np.cumsum(counts)
    cuts = np.searchsorted(ends, np.arange(params.chunk_events, ends[-1], params.chunk_events))
    bounds = np.unique(np.concatenate(([0], cuts + 1, [len(counts)])))
    bounds = bounds[bounds <= len(counts)]
    seeds = np.random.SeedSequence(params.seed, spawn_key=(1,)).spawn(len(bounds) - 1)
    make_block: Callable[..., pa.Table] = _make_block
    if params.shape != "bundles":
        from shopscale.generate_sparse import block_maker  # it builds on this module

        make_block = block_maker(params.shape)
    for lo, hi, seed in zip(bounds[:-1], bounds[1:], seeds, strict=True):
        ids = lo + np.flatnonzero(counts[lo:hi])
        if len(ids):
            slots = Slots.of(counts[ids])
            yield make_block(cat, slots, ids + 1, params.days, np.random.default_rng(seed))


@dataclass(frozen=True)
class Slots:
    """Event slots of a block, grouped by user (each has at least one) and in time order."""

    user: np.ndarray  # block-local user of each slot
    start: np.ndarray  # first slot of each user
    counts: np.ndarray  # slots of each user

    @classmethod
    def of(cls, counts: np.ndarray) -> Slots:
        """Slots for users with these (positive) event counts."""
        start = np.concatenate(([0], np.cumsum(counts)[:-1]))
        return cls(np.repeat(np.arange(len(counts)), counts), start, counts)

    @property
    def last(self) -> np.ndarray:
        """Last slot of each user."""
        return self.start + self.counts - 1

    def count_before(self, mask: np.ndarray) -> np.ndarray:
        """For each slot, how many ``mask`` slots of the same user come strictly before it."""
        before = np.cumsum(mask) - mask
        return before - before[self.start][self.user]

    def cumsum(self, values: np.ndarray) -> np.ndarray:
        """Cumulative sum of ``values`` restarting at each user's first slot."""
        total = np.cumsum(values)
        return total - (total[self.start] - values[self.start])[self.user]


def _make_block(
    cat: Catalogue, slots: Slots, user_ids: np.ndarray, days: int, rng: np.random.Generator
) -> pa.Table:
    """Draw one block of users' events and return it ordered by time."""
    action = _draw_actions(slots, rng)
    item = _draw_views(cat, slots, action, rng)
    _draw_followers(item, slots, action, rng)
    ts = _draw_timestamps(slots, days, rng)
    order = np.argsort(ts, kind="stable")
    return make_table(user_ids[slots.user[order]], action[order], item[order] + 1, ts[order])


def _draw_actions(slots: Slots, rng: np.random.Generator) -> np.ndarray:
    """Action codes; a user starts with a view, most purchases follow a cart of the user's."""
    action = rng.choice(3, size=len(slots.user), p=_ACTION_P).astype(np.int8)
    action[slots.start] = 0
    buys = np.flatnonzero(action == 2)
    no_cart = slots.count_before(action == 1)[buys] == 0
    action[buys[no_cart & (rng.random(len(buys)) < _CART_FIRST_P)]] = 1
    return action


def _draw_views(cat: Catalogue, slots: Slots, action: np.ndarray, rng) -> np.ndarray:
    """Items of views (interest, popular, bundle partner, re-view); other slots are -1."""
    n_users = len(slots.counts)
    n_interests = rng.choice([1, 2, 3], size=n_users, p=[0.5, 0.3, 0.2])
    interests = np.searchsorted(cat.cat_cum, rng.random((n_users, 3)) * cat.cat_cum[-1], "right")
    interests = np.minimum(interests, cat.n_categories - 1)
    kind = np.where(action == 0, rng.choice(4, size=len(action), p=_VIEW_KIND_P), -1)
    kind[slots.start] = 0
    pos = np.full(len(action), -1, dtype=np.int64)
    sel = np.flatnonzero(kind == 0)
    pick = (rng.random(len(sel)) * n_interests[slots.user[sel]]).astype(np.int64)
    c = interests[slots.user[sel], pick]
    pos[sel] = _sample_positions(cat, cat.cat_start[c], cat.cat_start[c + 1], rng)
    sel = np.flatnonzero(kind == 1)
    everything = np.full(len(sel), len(cat.order))
    pos[sel] = _sample_positions(cat, np.zeros(len(sel), dtype=np.int64), everything, rng)
    _draw_bundle_partners(cat, pos, kind, rng)
    item = np.where(pos >= 0, cat.order[np.maximum(pos, 0)], -1)
    item[kind == 3] = item[pick_earlier(pos >= 0, kind == 3, slots, 0.2, rng)]
    return item


def _draw_bundle_partners(cat: Catalogue, pos: np.ndarray, kind: np.ndarray, rng) -> None:
    """Fill bundle-partner views with an item of the bundle of the user's last anchor view."""
    anchor = np.maximum.accumulate(np.where(pos >= 0, np.arange(len(pos)), 0))
    sel = np.flatnonzero(kind == 2)
    a = pos[anchor[sel]]
    c = np.searchsorted(cat.cat_start, a, side="right") - 1
    lo = cat.cat_start[c] + (a - cat.cat_start[c]) // _BUNDLE_SIZE * _BUNDLE_SIZE
    hi = np.minimum(lo + _BUNDLE_SIZE, cat.cat_start[c + 1])
    pos[sel] = lo + (rng.random(len(sel)) * (hi - lo)).astype(np.int64)


def _draw_followers(item: np.ndarray, slots: Slots, action: np.ndarray, rng) -> None:
    """Carts take a recent view's item; purchases a recent cart's, else a recent view's."""
    views, carts, buys = action == 0, action == 1, action == 2
    item[carts] = item[pick_earlier(views, carts, slots, 0.5, rng)]
    from_cart = pick_earlier(carts, buys, slots, 0.5, rng)
    from_view = pick_earlier(views, buys, slots, 0.5, rng)
    item[buys] = item[np.where(from_cart >= 0, from_cart, from_view)]


def pick_earlier(
    src: np.ndarray, dst: np.ndarray, slots: Slots, recent_p: float, rng: np.random.Generator
) -> np.ndarray:
    """For each ``dst`` slot, an earlier ``src`` slot of the same user, recent ones likelier.

    ``-1`` where the user has no earlier ``src`` slot; the distance back, counted in ``src``
    slots, is geometric(``recent_p``) capped at the first one.
    """
    positions = np.flatnonzero(src)
    before = np.cumsum(src) - src  # src slots strictly before each slot, over the block
    j = np.flatnonzero(dst)
    avail = slots.count_before(src)[j]
    back = np.minimum(rng.geometric(recent_p, len(j)) - 1, np.maximum(avail - 1, 0))
    out = np.full(len(j), -1, dtype=np.int64)
    ok = avail > 0
    out[ok] = positions[before[j][ok] - 1 - back[ok]]
    return out


def _draw_timestamps(slots: Slots, days: int, rng: np.random.Generator) -> np.ndarray:
    """Epoch seconds: short gaps inside sessions, long ones between, all within ``days``."""
    n = len(slots.user)
    window = days * 86_400
    gap = 1 + rng.exponential(_IN_SESSION_GAP_S, n).astype(np.int64)
    new_session = rng.random(n) < _SESSION_P
    long_gap = rng.exponential(_SESSION_GAP_S, n).astype(np.int64) * new_session
    gap[slots.start] = 0
    long_gap[slots.start] = 0
    short_off, long_off = slots.cumsum(gap), slots.cumsum(long_gap)
    room = np.maximum(0.95 * window - short_off[slots.last], 0.0)
    scale = np.minimum(1.0, room / np.maximum(long_off[slots.last], 1))
    offset = short_off + (long_off * scale[slots.user]).astype(np.int64)
    span = offset[slots.last]
    begin = (rng.random(len(slots.counts)) * np.maximum(window - span, 1)).astype(np.int64)
    return START_EPOCH_S + begin[slots.user] + offset


def make_table(user: np.ndarray, action: np.ndarray, item: np.ndarray, ts: np.ndarray) -> pa.Table:
    """Arrow table with string ids, action names and int64 epoch-second timestamps."""
    names = pa.array(ACTIONS, pa.string())
    columns = [
        pc.cast(pa.array(user, pa.int64()), pa.string()),
        names.take(pa.array(action, pa.int8())),
        pc.cast(pa.array(item, pa.int64()), pa.string()),
        pa.array(ts, pa.int64()),
    ]
    return pa.Table.from_arrays(columns, names=list(COLUMNS))


def infer_format(out: Path) -> Format:
    """The format an output name asks for (``.csv``, ``.jsonl``/``.json``, ``.parquet``)."""
    suffixes = [s.lower() for s in out.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if last in (".parquet", ".pq"):
        return "parquet"
    return "csv"


def write_events(
    params: GenerateParams,
    out: Path,
    *,
    fmt: Format = "csv",
    gzip: bool = False,
    on_block: Callable[[int], None] | None = None,
) -> int:
    """Write the log to ``out`` via a temporary name and a rename; return the rows written."""
    if fmt == "parquet" and gzip:
        raise ValueError("parquet is compressed already (zstd); drop --gzip")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    rows = 0

    def counted() -> Iterator[pa.Table]:
        nonlocal rows
        for block in iter_event_blocks(params):
            yield block
            rows += block.num_rows
            if on_block is not None:
                on_block(block.num_rows)

    try:
        with ExitStack() as stack:
            sink = stack.enter_context(pa.OSFile(str(tmp), "wb"))
            if gzip:
                sink = stack.enter_context(
                    GzipFile(
                        filename="", mode="wb", fileobj=sink, compresslevel=_GZIP_LEVEL, mtime=0
                    )
                )
            WRITERS[fmt](counted(), sink)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    log.debug("wrote %d events to %s", rows, out)
    return rows
