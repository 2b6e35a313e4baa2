"""The local engine and the stored model: the state a batch run leaves after ``map``, and a
stored (string-ordered) state loaded back so that the unchanged ``reduce`` and ``rank`` run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from shopscale.engine.local.fold import excluded_keys, sorted_unique
from shopscale.engine.local.pairs import PairStore
from shopscale.engine.local.reader import ReadReport
from shopscale.events import EventsParams
from shopscale.ids import IdMap
from shopscale.recommend.model import (
    DROPPED,
    EXCLUDED,
    HISTORY,
    PAIRS,
    Counts,
    History,
    ModelState,
    file_sha256,
    strictly_increasing,
    write_state,
)
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.state_files import stream_columns, stream_csr

if TYPE_CHECKING:
    from shopscale.engine.local.engine import LocalEngine


def write_batch_model(
    engine: LocalEngine,
    folder: Path,
    params: RecommendParams,
    events: EventsParams,
    paths: list[Path],
    report: ReadReport,
    store: PairStore | None = None,
) -> None:
    """Write the state of a batch run after ``map`` (its string-order codes are the
    append-only codes of a model not updated yet). The pair counts stream from ``store`` one
    block at a time (else they are ``engine.totals.k11``), and DuckDB streams the histories
    and the extra exclusions into the column files: none of them is assembled in memory.
    Only reads the engine's state, so it may run on a thread beside ``reduce`` and ``rank``."""
    folder.mkdir(parents=True, exist_ok=True)
    if store is not None:
        n_ch, n_items = len(engine.channels), len(engine.items)
        keys = [(c, s) for c in range(n_ch) for s in range(store.n_shards)]
        blocks = ((b.indptr, b.indices, b.data) for b in (store.block(*k) for k in keys))
        nnz = sum(store.nnz(*k) for k in keys)
        stream_csr(folder, PAIRS, (n_ch * n_items, nnz), blocks)
    _copy_history(engine, folder)
    if engine.full_exclusions:  # excluded items downsampling dropped from the history
        code = engine.actions.index(params.primary) if params.primary in engine.actions else -1
        kept = "" if params.exclude == "any" else f"WHERE a = {int(code)}"
        query = f"SELECT u, i FROM excluded EXCEPT SELECT u, i FROM inter {kept}"
        _copy(engine, query, "u, i", folder, EXCLUDED, query=True)
    else:
        none = "SELECT 0::INTEGER AS u, 0::INTEGER AS i LIMIT 0"
        _copy(engine, none, "u", folder, EXCLUDED, query=True)
    _copy(engine, "dropped", "u, a, i", folder, DROPPED)
    t = engine.totals
    state = ModelState(
        users=engine.users.ids,
        items=engine.items.ids,
        actions=list(engine.actions),
        channels=list(engine.channels),
        history=History.empty(),
        excluded=(np.zeros(0, np.int32), np.zeros(0, np.int32)),
        dropped=History.empty(),
        counts=Counts(
            dict(t.k11), t.left_total, dict(t.right_total), t.pop_any, t.pop_primary, t.unprompted
        ),
        t_ref=engine.t_ref,
        timed=report.timed,
        next_position=report.positions,
        params=params,
        events=events,
        files=[{"file": str(p), "sha256": file_sha256(p)} for p in paths],
    )
    write_state(folder, state, histories=False, pairs=store is None)


class _OutOfOrderError(Exception):
    """A scan of ``inter`` did not come in (u, a, i) order."""


def _copy_history(engine: LocalEngine, folder: Path) -> None:
    """The history columns from ``inter``, which is stored in (u, a, i) order: scanned as it
    is (a sort of every row, beside ``rank``, is the cost this saves), checked batch by batch
    in one pass, and copied again sorted only if a scan ever comes otherwise."""
    try:
        _copy(engine, "inter", None, folder, HISTORY)
    except _OutOfOrderError:
        _copy(engine, "inter", "u, a, i", folder, HISTORY)


def _in_order(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches, raising ``_OutOfOrderError`` (before the first batch out of order passes) unless
    their rows strictly increase in (u, a, i) across batch edges too."""
    last: tuple[int, int, int] | None = None
    for batch in batches:
        if batch.num_rows:
            u, a, i = (batch.column(c).to_numpy() for c in ("u", "a", "i"))
            first = (int(u[0]), int(a[0]), int(i[0]))
            if (last is not None and first <= last) or not strictly_increasing(u, a, i):
                raise _OutOfOrderError
            last = (int(u[-1]), int(a[-1]), int(i[-1]))
        yield batch


def _copy(
    engine: LocalEngine,
    rows: str,
    order: str | None,
    folder: Path,
    table: str,
    *,
    query: bool = False,
) -> None:
    """Stream the rows of a table (or, with ``query``, of a query, held in a temporary table
    first), sorted by ``order`` (None: the history, in its stored order, checked), into
    ``table``'s column files (on a cursor of its own: this may run on a thread)."""
    with engine.con.cursor() as con:
        name = rows
        if query:
            name = "model_rows"
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {rows}")
        (n_rows,) = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0]
        sort = "" if order is None else f" ORDER BY {order}"
        reader = con.sql(f"SELECT * FROM {name}{sort}").to_arrow_reader(1_000_000)
        assert reader is not None
        batches = reader if order is not None else _in_order(reader)
        stream_columns(folder, table, int(n_rows), batches)


def adopt(engine: LocalEngine, state: ModelState, *, histories: bool = True) -> None:
    """Make a string-ordered state the engine's own, as if ``encode`` and ``map`` had run:
    ids, counts, ``t_ref``, and (with ``histories``) the ``inter`` and ``excluded`` tables
    ``rank`` reads."""
    engine.users = IdMap(state.users)
    engine.items = IdMap(state.items)
    engine.actions = list(state.actions)
    engine.channels = list(state.channels)
    c = state.counts  # a new dict of pair counts: reduce pops from it
    engine.totals = Counts(
        dict(c.k11), c.left_total, dict(c.right_total), c.pop_any, c.pop_primary, c.unprompted
    )
    engine.t_ref = state.t_ref
    if histories:
        _history_tables(engine, state)


def _history_tables(engine: LocalEngine, state: ModelState) -> None:
    """The ``inter`` and ``excluded`` tables ``rank`` reads, from a string-ordered state."""
    h = state.history
    con = engine.con
    for name, rows in (("inter", h), ("dropped", state.dropped)):
        con.register("adopt_rows", pa.table(rows.columns()))
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM adopt_rows ORDER BY u, a, i")
        con.unregister("adopt_rows")
    n_items = len(state.items)
    extra = state.excluded[0].astype(np.int64) * n_items + state.excluded[1]
    keys = sorted_unique(
        np.concatenate([excluded_keys(h, state.params, state.actions, n_items), extra])
    )
    ex = {"u": (keys // n_items).astype(np.int32), "i": (keys % n_items).astype(np.int32)}
    con.register("adopt_excluded", pa.table(ex))
    con.execute("CREATE OR REPLACE TABLE excluded AS SELECT * FROM adopt_excluded ORDER BY u, i")
    con.unregister("adopt_excluded")
    engine.full_exclusions = state.params.exclude != "none"
