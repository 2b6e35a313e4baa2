"""What Spark's Python workers run (``mapInArrow``): whole partitions of Arrow batches through
the same functions the local engine calls, never one row at a time.

- ``read_files``: each input file through the local engine's reader (same rules, lines and
  reasons), on the executor that got the file.
- ``score_pairs``: a partition of pair counts, grouped by (channel, item), scored with
  ``rules.pair_scores`` and cut with ``ranking.top_k_per_row`` (the local top-k's rule).
- ``rank_users``: a partition of users (history, exclusions, id), ranked by the local engine's
  numba kernel ``kernels.score_users`` with the broadcast vote matrix.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from shopscale.engine.base import RECOMMENDATIONS_SCHEMA
from shopscale.errors import ShopscaleError
from shopscale.events import EventsParams
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.ranking import rank_in_rows, top_k_per_row, vote_values
from shopscale.recommend.rules import PairScoring, history_entries, pair_scores

EVENT, REJECT, FILE, ERROR = 0, 1, 2, 3
"""``kind`` of a row ``read_files`` gives: an accepted event, a reject, a file's counts, or
the one error that makes a file unusable."""
READ_SCHEMA = pa.schema(
    [
        ("kind", pa.int8()),
        ("file", pa.int32()),
        ("user_id", pa.string()),
        ("action", pa.string()),
        ("item_id", pa.string()),
        ("t", pa.int64()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("row", pa.string()),
        ("rows", pa.int64()),
        ("timed", pa.bool_()),
        ("sha256", pa.string()),
    ]
)
KEPT_SCHEMA = pa.schema(
    [
        ("c", pa.int16()),
        ("i", pa.int32()),
        ("j", pa.int32()),
        ("score", pa.float64()),
        ("vote", pa.float64()),
        ("rank", pa.int32()),
        ("name_rank", pa.int16()),
        ("item_id", pa.string()),
        ("action", pa.string()),
        ("similar_item_id", pa.string()),
    ]
)
RANK_INPUT = ("u", "kind", "a", "i", "t", "user_id")
"""Columns of the rank stage's rows: kind 0 a history entry (a, i, t), 1 an excluded item
(i), 2 the user's id; sorted by (u, kind, a, i) within a partition."""
CHUNK_ROWS = 200_000
"""Rows gathered before a chunk of whole groups is scored (bounds a worker's memory)."""


# -- read ---------------------------------------------------------------------------------
def read_files(
    batches: Iterator[pa.RecordBatch],
    params: EventsParams,
    bounds: tuple[int, int],
    threads: int = 1,
) -> Iterator[pa.RecordBatch]:
    """Read each (file, path) of the partition with the local reader, on ``threads`` DuckDB
    threads (more than one when there are fewer files than task slots), at most this
    executor machine's cores (the driver's count says nothing of an executor's)."""
    threads = max(1, min(threads, os.cpu_count() or 1))
    for batch in batches:
        files = batch.column("file").to_pylist()
        for n, path in zip(files, batch.column("path").to_pylist(), strict=True):
            yield from _read_one(int(n), Path(path), params, bounds, threads)


def _read_one(
    n: int, path: Path, params: EventsParams, bounds: tuple[int, int], threads: int = 1
) -> Iterator[pa.RecordBatch]:
    """One file: its accepted events, its rejects and its counts, or its error."""
    import duckdb

    from shopscale.engine.local.reader import ReadReport, create_events_table, load_file
    from shopscale.engine.local.spill import new_spill_dir
    from shopscale.events import sniff
    from shopscale.recommend.model import file_sha256

    spill = new_spill_dir()
    con = duckdb.connect(config={"threads": threads, "temp_directory": str(spill)})
    try:
        con.execute("SET TimeZone = 'UTC'")
        create_events_table(con)
        report = ReadReport()
        try:
            source = sniff(path, params)
            parsed = load_file(
                con, source, params, tag="0", seq_offset=0, bounds=bounds, report=report
            )
        except ShopscaleError as err:
            line = getattr(err, "line", None)
            reason = getattr(err, "reason", str(err))
            yield _rows(ERROR, n, 1, line=[line], reason=[reason])
            return
        events = con.sql("SELECT user_id, action, item_id, t FROM events")
        for part in events.to_arrow_reader(CHUNK_ROWS):
            yield _rows(EVENT, n, part.num_rows, **{c: part.column(c) for c in part.schema.names})
        if report.rejects:
            _, lines, reasons, texts = (list(c) for c in zip(*report.rejects, strict=True))
            yield _rows(REJECT, n, len(lines), line=lines, reason=reasons, row=texts)
        sha = file_sha256(path)
        yield _rows(FILE, n, 1, rows=[parsed], timed=[source.has_timestamp], sha256=[sha])
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _rows(kind: int, file: int, size: int, **columns: object) -> pa.RecordBatch:
    """A batch of ``READ_SCHEMA`` rows: the given columns, every other one null."""
    arrays = []
    for field in READ_SCHEMA:
        if field.name == "kind":
            arrays.append(pa.array(np.full(size, kind, np.int8)))
        elif field.name == "file":
            arrays.append(pa.array(np.full(size, file, np.int32)))
        elif field.name in columns:
            arrays.append(pa.array(columns[field.name], field.type))
        else:
            arrays.append(pa.nulls(size, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=READ_SCHEMA)


def complete_groups(
    batches: Iterator[pa.RecordBatch], key: str, min_rows: int = CHUNK_ROWS
) -> Iterator[pa.Table]:
    """Tables of whole groups of rows sorted by ``key``: a group split across batches is
    held back until its last row has arrived."""
    held: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        held.append(batch)
        rows += batch.num_rows
        if rows < min_rows:
            continue
        table = pa.Table.from_batches(held)
        keys = table.column(key).to_numpy()
        cut = int(np.searchsorted(keys, keys[-1], side="left"))
        if cut == 0:
            continue  # one group so far: keep gathering
        yield table.slice(0, cut)
        rest = table.slice(cut)
        held, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield pa.Table.from_batches(held)


# -- reduce -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairContext:
    """What scoring pairs needs on every worker (broadcast once): marginals per channel, N,
    the settings, and names to decode codes with."""

    params: RecommendParams
    scorings: list[PairScoring]
    channels: list[str]
    name_rank: list[int]
    items: pa.Array
    n_items: int


def score_pairs(batches: Iterator[pa.RecordBatch], ctx: PairContext) -> Iterator[pa.RecordBatch]:
    """Score a partition of (g = c * n_items + i, c, i, j, k11) rows sorted by (g, j) and
    keep each (channel, item)'s top ``max_similar_per_item`` with their votes and ranks."""
    for table in complete_groups(batches, "g"):
        g = table.column("g").to_numpy()
        c = table.column("c").to_numpy().astype(np.int16)
        i = table.column("i").to_numpy().astype(np.int32)
        j = table.column("j").to_numpy().astype(np.int32)
        k11 = table.column("k11").to_numpy().astype(np.int64)
        scores = np.zeros(g.size)
        right = np.zeros(g.size, dtype=np.int64)
        for ch in np.unique(c):
            m = c == ch
            scoring = ctx.scorings[int(ch)]
            scores[m] = pair_scores(i[m], j[m], k11[m], scoring, ctx.params)
            right[m] = scoring.right_total[j[m]]
        keep = top_k_per_row(g, j, scores, ctx.params.max_similar_per_item)
        if ctx.params.similarity == "llr":
            votes = vote_values(ctx.params.vote, scores[keep], k11[keep], right[keep])
        else:
            votes = scores[keep]
        yield _kept_batch(ctx, c[keep], i[keep], j[keep], scores[keep], votes, g[keep])


def _kept_batch(
    ctx: PairContext,
    c: npt.NDArray[np.int16],
    i: npt.NDArray[np.int32],
    j: npt.NDArray[np.int32],
    scores: npt.NDArray[np.float64],
    votes: npt.NDArray[np.float64],
    g: npt.NDArray[np.int64],
) -> pa.RecordBatch:
    """Kept pairs with their ranks and decoded names (rows sorted by (g, -score, j))."""
    names = np.asarray(ctx.channels, dtype=object)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(c, pa.int16()),
            pa.array(i, pa.int32()),
            pa.array(j, pa.int32()),
            pa.array(scores, pa.float64()),
            pa.array(votes, pa.float64()),
            pa.array(rank_in_rows(g), pa.int32()),
            pa.array(np.asarray(ctx.name_rank, dtype=np.int16)[c], pa.int16()),
            ctx.items.take(pa.array(i)),
            pa.array(names[c], pa.string()),
            ctx.items.take(pa.array(j)),
        ],
        schema=KEPT_SCHEMA,
    )


# -- rank ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RankContext:
    """What ranking users needs on every worker (broadcast once): the vote matrix, the
    popularity order, the unprompted prior, the ids of the items and the settings."""

    params: RecommendParams
    votes: tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]]
    popular: npt.NDArray[np.int32]
    prior: tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]
    actions: list[str]
    channels: list[str]
    items: pa.Array
    t_ref: int


def rank_users(batches: Iterator[pa.RecordBatch], ctx: RankContext) -> Iterator[pa.RecordBatch]:
    """Rank a partition of users (``RANK_INPUT`` rows) with the local engine's kernel."""
    import numba

    from shopscale.engine.local.kernels import score_users
    from shopscale.engine.local.reduce import csr_from_sorted

    numba.set_num_threads(1)  # Spark runs one task per core: no threads inside a task
    n_items, p = len(ctx.items), ctx.params
    for table in complete_groups(batches, "u", min_rows=CHUNK_ROWS):
        u = table.column("u").to_numpy()
        kind = table.column("kind").to_numpy()
        who = kind == 2
        users = u[who]
        local = np.searchsorted(users, u).astype(np.int32)
        h = kind == 0
        hu, hj, hw = history_entries(
            local[h],
            table.column("a").to_numpy()[h].astype(np.int8),
            table.column("i").to_numpy()[h].astype(np.int32),
            table.column("t").to_numpy()[h].astype(np.int64),
            actions=ctx.actions,
            channels=ctx.channels,
            n_items=n_items,
            t_ref=ctx.t_ref,
            params=p,
        )
        hist = csr_from_sorted(hu, hj, users.size, len(ctx.channels) * n_items, data=hw)
        x = kind == 1
        ex = csr_from_sorted(local[x], table.column("i").to_numpy()[x], users.size, n_items)
        items, scores, source = score_users(
            (hist.indptr.astype(np.int64), hist.indices, hist.data.astype(np.float64)),
            ctx.votes,
            (ex.indptr.astype(np.int64), ex.indices),
            ctx.popular,
            n_items=n_items,
            n=p.n,
            backfill=p.backfill,
            prior=ctx.prior,
        )
        ids = table.column("user_id").filter(pa.array(who))
        yield _recs_batch(ids, items, scores, source, ctx.items)


_SOURCES = pa.array(["model", "backfill"], pa.string())


def _recs_batch(
    ids: pa.ChunkedArray,
    items: npt.NDArray[np.int32],
    scores: npt.NDArray[np.float64],
    source: npt.NDArray[np.int8],
    names: pa.Array,
) -> pa.RecordBatch:
    """Flatten (users x n) lists into output rows with string ids (as the local engine)."""
    n_users, n = items.shape
    filled = source.ravel() != 0
    who = np.repeat(np.arange(n_users), n)[filled]
    ranks = np.tile(np.arange(1, n + 1, dtype=np.int32), n_users)[filled]
    return pa.RecordBatch.from_arrays(
        [
            ids.combine_chunks().take(pa.array(who)),
            pa.array(ranks, pa.int32()),
            names.take(pa.array(items.ravel()[filled])),
            pa.array(scores.ravel()[filled], pa.float64()),
            _SOURCES.take(pa.array(source.ravel()[filled] - 1, pa.int8())),
        ],
        schema=RECOMMENDATIONS_SCHEMA,
    )
