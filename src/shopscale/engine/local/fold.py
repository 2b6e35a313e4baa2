"""Fold new events into a stored model exactly: the state after a fold equals the state the
batch job builds from all events at once (docs/model.md, "Why the fold is exact").

Every count of the model is a sum over users of a function of that user's downsampled history
(``counts.count_users``), and N and ``t_ref`` are a count and a maximum. So a fold only has to
find the rows that enter or leave the histories and change the counts by what those rows add
or take away (``fold_counts``); untouched users' terms, and rows that only get a later time,
change nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from shopscale.engine.local.counts import channels_for, contains
from shopscale.engine.local.fold_counts import (
    Changes,
    HistoryKeys,
    Keys,
    count_changes,
    sorted_unique,
)
from shopscale.engine.local.kernels import (
    compact_in_place,
    group_keys,
    insert_sorted,
    move_down,
)
from shopscale.ids import append_ids, string_order
from shopscale.recommend.model import Counts, History, ModelState
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.ranking import rank_in_rows
from shopscale.recommend.rules import excluded_actions, excluded_rows, recent_kept

__all__ = ["excluded_keys", "fold_events", "sorted_unique", "window"]


SPLIT_ROWS = 1 << 20
"""Histories of at least this many rows (stored and new) fold in two halves of the users on
two threads; tests set 0 to fold every history in halves."""


def fold_events(
    con: duckdb.DuckDBPyConnection, state: ModelState, *, positions: int, files: list[dict]
) -> ModelState:
    """``state`` with the ``events`` table (read by ``reader.read_events``) folded in.

    One merge of the stored history (sorted by (u, a, i)) with the new rows, the window
    again only for the (user, action) groups that overflow, and the counts changed by the
    rows that entered or left the histories (``fold_counts.count_changes``): the work grows
    with the new events, not with the model. Users are independent: a large history folds
    as two ranges of users on two threads, whose count changes add up (integer sums)."""
    actions, users, items, old, gone = _vocabulary(con, state)
    rows = _encode(con, users, items, actions)
    params = state.params
    channels = channels_for(params, actions)
    keys = HistoryKeys(len(actions), len(items), len(users))
    rows, gone = _bring_back(gone, rows, keys)
    item_rank = string_order(items)[1]

    halves = old.u.size + rows.u.size >= SPLIT_ROWS
    parts = _user_halves(old, rows) if halves else [(old, rows)]
    with ThreadPoolExecutor(1, thread_name_prefix="fold-users") as pool:
        # round 1: where each range's new rows go among its stored ones (so how many rows it
        # merges to); round 2: each range merged straight into its slice of one history,
        # windowed and compacted there, and its count changes; then the slices close up
        located = _on_both(pool, lambda part: _locate(*part, keys), parts)
        merged, merged_keys, slices = _allocate([loc.merged_rows for loc in located])
        folded = _on_both(
            pool,
            lambda k: _fold_users(
                parts[k], located[k], merged.take(slices[k]), merged_keys[slices[k]],
                keys, item_rank, actions, channels, params,
            ),
            range(len(parts)),
        )  # fmt: skip
    after, after_keys = _close_up(merged, merged_keys, slices, [f.kept_rows for f in folded])
    delta = folded[0].delta
    for f in folded[1:]:
        delta.add(f.delta)
    counts = state.counts.resized(len(items), channels)
    counts.add(delta)
    dropped = _concat([f.dropped for f in folded])
    return replace(
        state,
        users=users,
        items=items,
        actions=actions,
        channels=channels,
        history=after,
        excluded=_fold_exclusions(state, after_keys, dropped, keys, actions),
        dropped=_insert_rows(gone, dropped, keys),
        counts=counts,
        t_ref=max(state.t_ref, int(rows.t.max()) if rows.t.size else state.t_ref),
        next_position=positions,
        files=state.files + files,
    )


T = TypeVar("T")
R = TypeVar("R")


def _on_both(pool: ThreadPoolExecutor, fn: Callable[[T], R], parts: Iterable[T]) -> list[R]:
    """``fn`` of every part, the first on this thread and the others on ``pool``'s."""
    first, *rest = parts
    later = [pool.submit(fn, part) for part in rest]
    return [fn(first)] + [f.result() for f in later]


@dataclass(frozen=True)
class _Located:
    """One range of users: the keys of their stored and new rows, where each new row goes
    among the stored ones (``searchsorted``), and whether it is one of them (``hit``)."""

    old_keys: Keys
    row_keys: Keys
    at: npt.NDArray[np.int64]
    hit: npt.NDArray[np.bool_]

    @property
    def merged_rows(self) -> int:
        """Rows after the merge: the stored ones and the new ones not among them."""
        return int(self.old_keys.size + self.hit.size - np.count_nonzero(self.hit))


@dataclass(frozen=True)
class _Folded:
    """One range of users folded: how many rows its history keeps (at the start of its
    slice), the rows the window dropped, and what its changes add to the counts."""

    kept_rows: int
    dropped: History
    delta: Counts


def _locate(old: History, rows: History, keys: HistoryKeys) -> _Located:
    """Where the new rows of some users go among their stored rows (both sorted by key)."""
    old_keys, row_keys = keys.of(old), keys.of(rows)
    at = np.searchsorted(old_keys, row_keys)
    hit = at < old_keys.size
    hit[hit] = old_keys[at[hit]] == row_keys[hit]
    return _Located(old_keys, row_keys, at, hit)


def _allocate(sizes: list[int]) -> tuple[History, Keys, list[slice]]:
    """An empty history (and keys) of ``sum(sizes)`` rows, and each part's slice of it."""
    n = sum(sizes)
    ends = np.cumsum([0, *sizes]).tolist()
    history = History(
        np.empty(n, np.int32),
        np.empty(n, np.int8),
        np.empty(n, np.int32),
        np.empty(n, np.int64),
        np.empty(n, np.int32),
    )
    return history, np.empty(n, np.int64), [slice(a, b) for a, b in itertools.pairwise(ends)]


def _fold_users(
    part: tuple[History, History],
    loc: _Located,
    into: History,
    into_keys: Keys,
    keys: HistoryKeys,
    item_rank: npt.NDArray[np.int32],
    actions: list[str],
    channels: list[str],
    params: RecommendParams,
) -> _Folded:
    """Fold the new rows of some users into their stored rows (both sorted, same users):
    merged into ``into`` (their slice of the folded history), windowed, the kept rows moved
    to the slice's start; count what entered and what left their histories."""
    old, rows = part
    is_old = _merge(old, rows, loc, into, into_keys)
    group = group_keys(into.u, into.a, keys.n_actions)
    kept = _trim(into, group, params.max_items_per_user, item_rank)
    changes = Changes(
        into.take(np.flatnonzero(kept & ~is_old)), into.take(np.flatnonzero(~kept & is_old))
    )
    dropped = into.take(np.flatnonzero(~kept))
    columns: list[npt.NDArray[np.integer]] = [into.u, into.a, into.i, into.t, into.n, into_keys]
    n = compact_in_place(columns, kept)
    after = (into.take(slice(0, n)), into_keys[:n])
    delta = count_changes((old, loc.old_keys), after, changes, keys, actions, channels, params)
    return _Folded(n, dropped, delta)


def _close_up(
    merged: History, merged_keys: Keys, slices: list[slice], kept: list[int]
) -> tuple[History, Keys]:
    """The parts' kept rows (each at the start of its slice) moved to follow each other:
    the folded history and its keys."""
    columns: list[npt.NDArray[np.integer]] = [
        merged.u, merged.a, merged.i, merged.t, merged.n, merged_keys,
    ]  # fmt: skip
    end = 0
    for part, n in zip(slices, kept, strict=True):
        if part.start != end:
            move_down(columns, part.start, end, n)
        end += n
    return merged.take(slice(0, end)), merged_keys[:end]


def _user_halves(old: History, rows: History) -> list[tuple[History, History]]:
    """The stored and new rows (sorted by user) cut at the user in the middle of the stored
    rows (of the new rows when none is stored): two (stored, new) parts of disjoint user
    ranges, in user order."""
    sample = old.u if old.u.size else rows.u
    mid = int(sample[sample.size // 2]) if sample.size else 0
    cut_old, cut_new = int(np.searchsorted(old.u, mid)), int(np.searchsorted(rows.u, mid))
    first = (old.take(slice(0, cut_old)), rows.take(slice(0, cut_new)))
    return [first, (old.take(slice(cut_old, None)), rows.take(slice(cut_new, None)))]


def _concat(parts: list[History]) -> History:
    """The parts' rows one after the other (the only part itself when there is one)."""
    if len(parts) == 1:
        return parts[0]
    return History(
        np.concatenate([p.u for p in parts]),
        np.concatenate([p.a for p in parts]),
        np.concatenate([p.i for p in parts]),
        np.concatenate([p.t for p in parts]),
        np.concatenate([p.n for p in parts]),
    )


def _merge(
    old: History, rows: History, loc: _Located, into: History, into_keys: Keys
) -> npt.NDArray[np.bool_]:
    """Stored rows and new rows (both sorted by key, distinct) merged into ``into`` (and
    their keys into ``into_keys``) as one sorted history with one row per (u, a, i) and its
    latest time and the events of both; return whether each row was stored before."""
    at, hit = loc.at, loc.hit
    new = np.flatnonzero(~hit)
    ins = at[new]
    # the kernels release the GIL: the two 64-bit columns on a second thread
    with ThreadPoolExecutor(1, thread_name_prefix="fold-merge") as pool:
        wide = pool.submit(
            lambda: (
                insert_sorted(old.t, ins, rows.t[new], out=into.t),
                insert_sorted(loc.old_keys, ins, loc.row_keys[new], out=into_keys),
            )
        )
        insert_sorted(old.u, ins, rows.u[new], out=into.u)
        insert_sorted(old.a, ins, rows.a[new], out=into.a)
        insert_sorted(old.i, ins, rows.i[new], out=into.i)
        insert_sorted(old.n, ins, rows.n[new], out=into.n)
        is_old = insert_sorted(np.ones(old.u.size, dtype=bool), ins, np.zeros(new.size, bool))
        wide.result()
    # a stored row seen again keeps its latest time; it moved down by the new rows before it
    # (a new row goes before the stored row at its insertion point)
    seen = at[hit]
    moved = seen + np.searchsorted(ins, seen, side="right")
    into.t[moved] = np.maximum(into.t[moved], rows.t[hit])
    into.n[moved] += rows.n[hit]
    return is_old


def _trim(
    h: History, group: Keys, keep: int, item_rank: npt.NDArray[np.int32]
) -> npt.NDArray[np.bool_]:
    """Which rows of a sorted, distinct history the window keeps (``rules.recent_kept``)."""
    return recent_kept(group, h.t, h.i, keep, item_rank)


def _vocabulary(
    con: duckdb.DuckDBPyConnection, state: ModelState
) -> tuple[list[str], pa.Array, pa.Array, History, History]:
    """Actions (string order; a new one renumbers the action codes), users and items (new
    ids appended) after the fold, and the stored history and dropped rows in the new action
    codes."""
    seen = {r[0] for r in con.sql("SELECT DISTINCT action FROM events").fetchall()}
    actions = sorted(set(state.actions) | seen)
    users = append_ids(state.users, _distinct(con, "user_id"))
    items = append_ids(state.items, _distinct(con, "item_id"))
    remap = np.array([actions.index(a) for a in state.actions], dtype=np.int8)
    h, d = state.history, state.dropped
    return (
        actions,
        users,
        items,
        History(h.u, remap[h.a], h.i, h.t, h.n),
        History(d.u, remap[d.a], d.i, d.t, d.n),
    )


def _bring_back(gone: History, rows: History, keys: HistoryKeys) -> tuple[History, History]:
    """The new rows with the events and latest time of those a window dropped before (a row
    that comes back into a window brings them; one that stays out is dropped again with
    them), and the dropped rows no new row names."""
    if not gone.u.size or not rows.u.size:
        return rows, gone
    gone_keys, row_keys = keys.of(gone), keys.of(rows)
    at = np.minimum(np.searchsorted(gone_keys, row_keys), gone_keys.size - 1)
    hit = gone_keys[at] == row_keys
    if not hit.any():
        return rows, gone
    back = at[hit]
    n, t = rows.n.copy(), rows.t.copy()
    n[hit] += gone.n[back]
    t[hit] = np.maximum(t[hit], gone.t[back])
    stay = np.ones(gone.u.size, dtype=bool)
    stay[back] = False
    return History(rows.u, rows.a, rows.i, t, n), gone.take(np.flatnonzero(stay))


def _insert_rows(base: History, rows: History, keys: HistoryKeys) -> History:
    """Two sorted histories with no (u, a, i) in common as one sorted history: the rows
    inserted into ``base`` by key (one ``searchsorted`` and one pass per column, the way
    ``_merge`` inserts new rows: no sort of the stored dropped rows at every fold)."""
    if not rows.u.size:
        return base
    at = np.searchsorted(keys.of(base), keys.of(rows))
    return History(
        *(insert_sorted(old, at, new) for old, new in zip(
            base.columns().values(), rows.columns().values(), strict=True
        ))
    )  # fmt: skip


def window(h: History, keep: int, item_rank: npt.NDArray[np.int32]) -> History:
    """Downsampling, as the batch job does it: one row per (u, a, i) with its latest time
    and the sum of its events, then per (u, a) the ``keep`` rows ordered by (t desc, item
    id asc); sorted by (u, a, i). Items are ranked by ``item_rank`` (id string order), not by
    their append-only codes.

    An item a user's window dropped was beaten by ``keep`` rows whose times can only grow, so
    it comes back only when a new event of it beats the window; it then brings its stored
    events (``ModelState.dropped``), so its count is that of all events.
    """
    if h.u.size == 0:  # a user with no history (yet): nothing to keep
        return h
    s = h.take(np.lexsort((-h.t, h.i, h.a, h.u)))
    first = np.flatnonzero(
        np.r_[True, (s.u[1:] != s.u[:-1]) | (s.a[1:] != s.a[:-1]) | (s.i[1:] != s.i[:-1])]
    )
    events = np.add.reduceat(s.n.astype(np.int64), first).astype(np.int32)
    s = s.take(first)
    s = History(s.u, s.a, s.i, s.t, events)
    s = s.take(np.lexsort((item_rank[s.i], -s.t, s.a, s.u)))
    group = s.u.astype(np.int64) * 256 + s.a.astype(np.int64)
    return s.take(np.flatnonzero(rank_in_rows(group) <= keep)).sorted()


def excluded_keys(h: History, params: RecommendParams, actions: list[str], n_items: int) -> Keys:
    """Sorted distinct keys u * n_items + i of the rows ``params.exclude`` excludes."""
    mask = excluded_rows(h.a, excluded_actions(params, actions))
    return sorted_unique(h.u[mask].astype(np.int64) * n_items + h.i[mask])


def _fold_exclusions(
    state: ModelState, after_keys: Keys, dropped: History, keys: HistoryKeys, actions: list[str]
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """The extra exclusions (excluded items not in the history) after the fold: the stored
    ones and those of rows the window dropped (old or new), minus what the new history
    excludes itself. (Everything a user was ever excluded from that is not in the new
    history is one of those: a row that left it, or an extra exclusion already.)"""
    params, n_items = state.params, keys.n_items
    eu, ei = state.excluded
    candidates = sorted_unique(
        np.concatenate(
            [eu.astype(np.int64) * n_items + ei, excluded_keys(dropped, params, actions, n_items)]
        )
    )
    u, i = candidates // n_items, candidates % n_items
    if params.exclude == "any":
        codes = list(range(len(actions)))
    else:
        codes = [actions.index(params.primary)] if params.primary in actions else []
    held = np.zeros(candidates.size, dtype=bool)
    for a in codes:
        held |= contains(after_keys, keys.make(u, a, i))
    extra = candidates[~held]
    return (extra // n_items).astype(np.int32), (extra % n_items).astype(np.int32)


def _distinct(con: duckdb.DuckDBPyConnection, column: str) -> pa.Array:
    """The distinct values of one ``events`` column."""
    tbl = con.sql(f"SELECT DISTINCT {column} FROM events").to_arrow_table()
    return tbl.column(0).combine_chunks()


def _encode(
    con: duckdb.DuckDBPyConnection, users: pa.Array, items: pa.Array, actions: list[str]
) -> History:
    """The new events in model codes, one row per (u, a, i) with its latest time and its
    number of events."""
    con.register(
        "fold_users", pa.table({"user_id": users, "u": np.arange(len(users), dtype=np.int32)})
    )
    con.register(
        "fold_items", pa.table({"item_id": items, "i": np.arange(len(items), dtype=np.int32)})
    )
    con.register(
        "fold_acts",
        pa.table(
            {"action": pa.array(actions, pa.string()), "a": np.arange(len(actions), dtype=np.int8)}
        ),
    )
    tbl = con.sql(
        "SELECT u, a, i, max(t) AS t, count(*)::INTEGER AS n FROM events "
        "JOIN fold_users USING (user_id) "
        "JOIN fold_items USING (item_id) JOIN fold_acts USING (action) GROUP BY u, a, i "
        "ORDER BY u, a, i"
    ).to_arrow_table()
    for name in ("fold_users", "fold_items", "fold_acts"):
        con.unregister(name)
    return History(
        tbl.column("u").to_numpy().astype(np.int32),
        tbl.column("a").to_numpy().astype(np.int8),
        tbl.column("i").to_numpy().astype(np.int32),
        tbl.column("t").to_numpy().astype(np.int64),
        tbl.column("n").to_numpy().astype(np.int32),
    )
