"""Events held in memory for evaluation, as integer codes, and the matrices models learn from.

Events are read by the same reader as ``recommend`` (same parsing, renames and rejects), then
encoded: users, items and actions get codes in string order of their ids (so ties broken by
code are ties broken by id, as in the engines). Raw events are kept (one row per event, in
time order); matrices dedupe them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from shopscale.engine.local.reader import read_events
from shopscale.errors import InputError
from shopscale.events import EventsParams, resolve_inputs, sniff

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Interactions:
    """Raw events as codes: ``user``, ``action``, ``item``, ``t`` (time order), plus names."""

    user: npt.NDArray[np.int32]
    action: npt.NDArray[np.int8]
    item: npt.NDArray[np.int32]
    t: IntArray
    user_ids: npt.NDArray[np.object_]
    item_ids: npt.NDArray[np.object_]
    actions: tuple[str, ...]
    has_time: bool
    """False when the log had no timestamps (``t`` is then file order, not time)."""

    def __len__(self) -> int:
        return int(self.user.size)

    @property
    def n_users(self) -> int:
        """Size of the user code space (every user of the whole log)."""
        return int(self.user_ids.size)

    @property
    def n_items(self) -> int:
        """Size of the item code space (every item of the whole log)."""
        return int(self.item_ids.size)

    def code(self, action: str) -> int:
        """Code of an action, or -1 when it never occurs."""
        return self.actions.index(action) if action in self.actions else -1

    def subset(self, mask: npt.NDArray[np.bool_]) -> Interactions:
        """The events where ``mask`` is true, with the same code spaces."""
        return Interactions(
            self.user[mask],
            self.action[mask],
            self.item[mask],
            self.t[mask],
            self.user_ids,
            self.item_ids,
            self.actions,
            self.has_time,
        )

    def to_arrow(self) -> pa.Table:
        """Events with string ids, in time order; a timestamp column only when real."""
        cols: dict[str, pa.Array] = {
            "user_id": pa.array(self.user_ids[self.user], pa.string()),
            "action": pa.array(np.asarray(self.actions, dtype=object)[self.action], pa.string()),
            "item_id": pa.array(self.item_ids[self.item], pa.string()),
        }
        if self.has_time:
            cols["timestamp"] = pa.array(self.t, pa.int64())
        return pa.table(cols)


def _has_timestamps(paths: Sequence[Path], params: EventsParams) -> bool:
    """Whether every input file carries its own timestamp column."""
    for path in paths:
        source = sniff(path, params)
        if source.format == "parquet":
            if params.timestamp_column not in pq.read_schema(path).names:
                return False
        elif not source.has_timestamp:
            return False
    return True


def load_events(
    inputs: str | Path | Sequence[str | Path], events: EventsParams | None = None
) -> Interactions:
    """Read, validate and encode a log; rejects over ``max_reject_ratio`` fail the load."""
    events = events or EventsParams()
    paths = resolve_inputs(inputs)
    con = duckdb.connect()
    try:
        report = read_events(con, paths, events)
        if report.accepted == 0:
            raise InputError(paths[0], "no valid events in the input")
        if report.rejected > events.max_reject_ratio * report.rows_read:
            first = report.rejects[0]
            raise InputError(
                first[0],
                f"{report.rejected:,} of {report.rows_read:,} rows rejected; first: {first[2]}",
                first[1],
            )
        return _encode(con, _has_timestamps(paths, events))
    finally:
        con.close()


def _encode(con: duckdb.DuckDBPyConnection, has_time: bool) -> Interactions:
    """Dense codes in string order; events sorted by (t, file order)."""
    tbl = con.sql(
        "WITH e AS (SELECT *, row_number() OVER () AS ord FROM events), "
        "u AS (SELECT user_id, dense_rank() OVER (ORDER BY user_id) - 1 AS u FROM "
        "(SELECT DISTINCT user_id FROM e)), "
        "i AS (SELECT item_id, dense_rank() OVER (ORDER BY item_id) - 1 AS i FROM "
        "(SELECT DISTINCT item_id FROM e)), "
        "a AS (SELECT action, dense_rank() OVER (ORDER BY action) - 1 AS a FROM "
        "(SELECT DISTINCT action FROM e)) "
        "SELECT u, a, i, t, user_id, item_id, action FROM e JOIN u USING (user_id) "
        "JOIN i USING (item_id) JOIN a USING (action) ORDER BY t, ord"
    ).to_arrow_table()
    u = tbl["u"].to_numpy().astype(np.int32)
    i = tbl["i"].to_numpy().astype(np.int32)
    a = tbl["a"].to_numpy().astype(np.int8)
    user_ids = np.empty(int(u.max()) + 1, dtype=object)
    user_ids[u] = tbl["user_id"].to_numpy(zero_copy_only=False)
    item_ids = np.empty(int(i.max()) + 1, dtype=object)
    item_ids[i] = tbl["item_id"].to_numpy(zero_copy_only=False)
    names = np.empty(int(a.max()) + 1, dtype=object)
    names[a] = tbl["action"].to_numpy(zero_copy_only=False)
    return Interactions(
        u, a, i, tbl["t"].to_numpy().astype(np.int64), user_ids, item_ids, tuple(names), has_time
    )


def from_arrays(
    rows: Sequence[tuple[str, str, str, int]], *, has_time: bool = True
) -> Interactions:
    """Interactions from (user_id, action, item_id, t) tuples: for tests and small examples."""
    con = duckdb.connect()
    try:
        con.execute(
            "CREATE TABLE events (user_id VARCHAR, action VARCHAR, item_id VARCHAR, t BIGINT)"
        )
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [list(r) for r in rows])
        return _encode(con, has_time)
    finally:
        con.close()


@dataclass
class TrainData:
    """What every model may learn from: the training events and their matrices."""

    events: Interactions
    primary: str
    matrices: dict[str, sp.csr_matrix] = field(default_factory=dict, repr=False)

    @property
    def n_users(self) -> int:
        return self.events.n_users

    @property
    def n_items(self) -> int:
        return self.events.n_items

    @cached_property
    def t_ref(self) -> int:
        """Latest training time: the "now" of time decay."""
        return int(self.events.t.max()) if len(self.events) else 0

    def latest(self, action: str) -> sp.csr_matrix:
        """Users x items: latest time (+1, so never 0) of ``action``; empty if it never occurs."""
        if action not in self.matrices:
            ev = self.events
            mask = ev.action == ev.code(action)
            t = ev.t[mask] - int(ev.t.min(initial=0)) + 1
            m = sp.coo_matrix((t, (ev.user[mask], ev.item[mask])), (self.n_users, self.n_items))
            self.matrices[action] = _max_duplicates(m)
        return self.matrices[action]

    def counts(self, action: str) -> sp.csr_matrix:
        """Users x items: number of ``action`` events (repeats counted), indices sorted."""
        ev = self.events
        mask = ev.action == ev.code(action)
        ones = np.ones(int(mask.sum()))
        m = sp.csr_matrix((ones, (ev.user[mask], ev.item[mask])), shape=self.shape)
        m.sum_duplicates()
        return m

    def binary(self, action: str | None = None) -> sp.csr_matrix:
        """Users x items float32 0/1 of ``action``, or of any action when None."""
        if action is not None:
            m = self.latest(action).copy()
        else:
            m = sum((self.latest(a) for a in self.events.actions), sp.csr_matrix(self.shape))
        m = sp.csr_matrix(m, dtype=np.float32)
        m.data[:] = 1.0
        return m

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.n_items)

    @cached_property
    def popular(self) -> npt.NDArray[np.int32]:
        """Items by primary-action users desc, then any-action users desc, then code."""
        prim = np.asarray(self.binary(self.primary).sum(axis=0)).ravel()
        anyc = np.asarray(self.binary().sum(axis=0)).ravel()
        order = np.lexsort((np.arange(self.n_items), -anyc, -prim))
        return order[anyc[order] > 0].astype(np.int32)


def _max_duplicates(m: sp.coo_matrix) -> sp.csr_matrix:
    """CSR keeping the largest value of duplicate entries (SciPy would sum them)."""
    if m.nnz == 0:
        return sp.csr_matrix(m.shape, dtype=np.int64)
    key = m.row.astype(np.int64) * m.shape[1] + m.col
    order = np.lexsort((-m.data, key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    pick = order[first]
    return sp.csr_matrix((m.data[pick].astype(np.int64), (m.row[pick], m.col[pick])), shape=m.shape)
