"""Fold new events into a stored model exactly: the state after a fold equals the state the
batch job builds from all events at once (docs/model.md, "Why the fold is exact").

Every count of the model is a sum over users of a function of that user's downsampled history
(``counts.count_users``), and N and ``t_ref`` are a count and a maximum. So a fold only has to
find each touched user's new history, subtract what their old history added and add what the
new one adds; untouched users' terms are unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from shopscale.engine.local.counts import Shard, channels_for, contains, count_users
from shopscale.ids import append_ids, string_order
from shopscale.recommend.model import Counts, History, ModelState
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.ranking import rank_in_rows

Keys = npt.NDArray[np.int64]


def fold_events(
    con: duckdb.DuckDBPyConnection, state: ModelState, *, positions: int, files: list[dict]
) -> ModelState:
    """``state`` with the ``events`` table (read by ``reader.read_events``) folded in."""
    actions, users, items, old = _vocabulary(con, state)
    rows = _encode(con, users, items, actions)
    params = state.params
    channels = channels_for(params, actions)
    n_items = len(items)
    touched = sorted_unique(rows.u)
    flag = np.zeros(len(users), dtype=bool)
    flag[touched] = True
    in_touched = flag[old.u]
    before = old.take(np.flatnonzero(in_touched))
    after = window(_concat(before, rows), params.max_items_per_user, string_order(items)[1])
    delta = _count(after, touched, actions, channels, n_items, params)
    delta.add(_count(before, touched, actions, channels, n_items, params), -1)
    counts = state.counts.resized(n_items, channels)
    counts.add(delta)
    untouched = old.take(np.flatnonzero(~in_touched))
    at = np.searchsorted(untouched.u, after.u)  # both sorted: insert each user's new block
    return replace(
        state,
        users=users,
        items=items,
        actions=actions,
        channels=channels,
        history=History(*(np.insert(getattr(untouched, c), at, getattr(after, c)) for c in "uait")),
        excluded=_fold_exclusions(state, before, rows, after, touched, actions, n_items),
        counts=counts,
        t_ref=max(state.t_ref, int(rows.t.max()) if rows.t.size else state.t_ref),
        next_position=positions,
        files=state.files + files,
    )


def _vocabulary(
    con: duckdb.DuckDBPyConnection, state: ModelState
) -> tuple[list[str], pa.Array, pa.Array, History]:
    """Actions (string order; a new one renumbers the action codes), users and items (new
    ids appended) after the fold, and the stored history in the new action codes."""
    seen = {r[0] for r in con.sql("SELECT DISTINCT action FROM events").fetchall()}
    actions = sorted(set(state.actions) | seen)
    users = append_ids(state.users, _distinct(con, "user_id"))
    items = append_ids(state.items, _distinct(con, "item_id"))
    remap = np.array([actions.index(a) for a in state.actions], dtype=np.int8)
    h = state.history
    return actions, users, items, History(h.u, remap[h.a], h.i, h.t)


def window(h: History, keep: int, item_rank: npt.NDArray[np.int32]) -> History:
    """Downsampling, as the batch job does it: one row per (u, a, i) with its latest time,
    then per (u, a) the ``keep`` rows ordered by (t desc, item id asc); sorted by (u, a, i).

    Folding needs no forgotten rows: an item a user's window dropped was beaten by ``keep``
    rows whose times can only grow, so it comes back only when a new event of it beats the
    window, and then its latest time is that new event's time. Items are ranked by
    ``item_rank`` (id string order), not by their append-only codes.
    """
    if h.u.size == 0:  # a user with no history (yet): nothing to keep
        return h
    s = h.take(np.lexsort((-h.t, h.i, h.a, h.u)))
    first = np.r_[True, (s.u[1:] != s.u[:-1]) | (s.a[1:] != s.a[:-1]) | (s.i[1:] != s.i[:-1])]
    s = s.take(np.flatnonzero(first))
    s = s.take(np.lexsort((item_rank[s.i], -s.t, s.a, s.u)))
    group = s.u.astype(np.int64) * 256 + s.a.astype(np.int64)
    return s.take(np.flatnonzero(rank_in_rows(group) <= keep)).sorted()


def excluded_keys(h: History, params: RecommendParams, actions: list[str], n_items: int) -> Keys:
    """Sorted distinct keys u * n_items + i of the rows ``params.exclude`` excludes."""
    if params.exclude == "none":
        mask = np.zeros(h.u.size, dtype=bool)
    elif params.exclude == "any":
        mask = np.ones(h.u.size, dtype=bool)
    elif params.primary in actions:
        mask = h.a == actions.index(params.primary)
    else:
        mask = np.zeros(h.u.size, dtype=bool)
    return sorted_unique(h.u[mask].astype(np.int64) * n_items + h.i[mask])


def _fold_exclusions(
    state: ModelState,
    before: History,
    rows: History,
    after: History,
    touched: npt.NDArray[np.int32],
    actions: list[str],
    n_items: int,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """The extra exclusions (excluded items not in the history any more) after the fold:
    for touched users everything they were ever excluded from, minus their new history."""
    params = state.params
    eu, ei = state.excluded
    old_keys = eu.astype(np.int64) * n_items + ei
    flag = np.zeros(state.n_users + 1, dtype=bool)
    flag[touched[touched < state.n_users]] = True
    mine = flag[eu]
    ever = sorted_unique(
        np.concatenate(
            [
                old_keys[mine],
                excluded_keys(before, params, actions, n_items),
                excluded_keys(rows, params, actions, n_items),
            ]
        )
    )
    extra = ever[~contains(excluded_keys(after, params, actions, n_items), ever)]
    keys = sorted_unique(np.concatenate([old_keys[~mine], extra]))
    return (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)


def sorted_unique(x: npt.NDArray) -> npt.NDArray:
    """The distinct values, ascending (a sort: NumPy's hashing ``unique`` is far slower on
    wide int64 keys)."""
    s = np.sort(x)
    return s[np.r_[s.size > 0, s[1:] != s[:-1]][: s.size]]


def _count(
    h: History,
    touched: npt.NDArray[np.int32],
    actions: list[str],
    channels: list[str],
    n_items: int,
    params: RecommendParams,
) -> Counts:
    """What the touched users' histories ``h`` add to every count."""
    local = np.searchsorted(touched, h.u).astype(np.int32)
    shard = Shard(0, touched.size, local, h.a, h.i, h.t)
    return count_users(shard, actions, channels, n_items, params)


def _concat(a: History, b: History) -> History:
    """Rows of both (not sorted)."""
    return History(
        np.concatenate([a.u, b.u]),
        np.concatenate([a.a, b.a]),
        np.concatenate([a.i, b.i]),
        np.concatenate([a.t, b.t]),
    )


def _distinct(con: duckdb.DuckDBPyConnection, column: str) -> pa.Array:
    """The distinct values of one ``events`` column."""
    tbl = con.sql(f"SELECT DISTINCT {column} FROM events").to_arrow_table()
    return tbl.column(0).combine_chunks()


def _encode(
    con: duckdb.DuckDBPyConnection, users: pa.Array, items: pa.Array, actions: list[str]
) -> History:
    """The new events in model codes, one row per (u, a, i) with its latest time."""
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
        "SELECT u, a, i, max(t) AS t FROM events JOIN fold_users USING (user_id) "
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
    )
