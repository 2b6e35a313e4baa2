"""What Spark's Python workers run (``mapInArrow``): whole partitions of Arrow batches through
the same functions the local engine calls, never one row at a time.

- ``read_files``: each input file through the local engine's reader (same rules, lines and
  reasons), on the executor that got the file.
- ``encode_users``: a range of users (every event of each, in id order): user codes local to
  the partition, item and action codes from the broadcast dictionaries, dedup (latest time)
  and downsampling by ``rules.recent_kept``, the exclusions downsampling dropped.
- ``count_partition``: the same users' every count of the model by ``counts.count_users``
  (the local map's function), as partial sums Spark adds up.
- ``score_pairs``: a partition of pair counts, grouped by (channel, item), scored with
  ``rules.pair_scores`` and cut with ``ranking.top_k_per_row`` (the local top-k's rule).
- ``rank_users``: a range of users (the encode partitions themselves: no shuffle), ranked by
  the local engine's numba kernel ``kernels.score_users`` with the broadcast vote matrix.
- ``write_part``: a task's rows written as its own Parquet part with pyarrow (lists, similar
  items, the users' part of the model state), whole or not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from shopscale.engine.base import (
    PLAIN,
    RECOMMENDATIONS_SCHEMA,
    SIMILAR_ITEMS_SCHEMA,
    STATISTICS,
)
from shopscale.engine.local.fold_counts import sorted_unique
from shopscale.errors import ShopscaleError
from shopscale.events import EventsParams
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.ranking import rank_in_rows, top_k_per_row, vote_values
from shopscale.recommend.rules import (
    PairScoring,
    excluded_rows,
    history_entries,
    pair_scores,
    recent_kept,
    vote_blocks,
)
from shopscale.store.files import parquet_options

REJECT, FILE, ERROR, ITEM, ACTION, USER_SAMPLE, SKIPPED, EVENT = 1, 2, 3, 4, 5, 6, 7, 8
"""``kind`` of a row ``read_files`` gives: a reject, a file's counts, the one error that makes
a file unusable, (id in ``row``) one of the file's distinct items, distinct actions, or a
sample of its user ids, (``read_uris``) a file found in a folder or by a pattern whose type is
unknown, or an accepted event (only when there is no scratch folder to write them to as
Parquet: then they go through the rows)."""
USER_SAMPLE_ROWS = 10_000
"""User ids sampled per file (more for larger files: one per ``USER_SAMPLE_EVERY`` events),
from which encode cuts the users into ranges without a sampling pass of its own."""
USER_SAMPLE_EVERY = 1_000
READ_SCHEMA = pa.schema(
    [
        ("kind", pa.int8()),
        ("file", pa.int32()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("row", pa.string()),
        ("rows", pa.int64()),
        ("timed", pa.bool_()),
        ("sha256", pa.string()),
        ("user_id", pa.string()),
        ("action", pa.string()),
        ("item_id", pa.string()),
        ("t", pa.int64()),
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
    ]
)
"""A kept pair with its score, vote and rank, by codes (names are decoded after the sort,
``similar_rows``: strings are not shuffled)."""
HISTORY, EXCLUDED, USER, DROPPED = 0, 1, 2, 3
"""``kind`` of a row ``encode_users`` gives: a kept history entry (a, i, t, n), an item the
user must not be shown that downsampling dropped from the history (i), the user's id, or a
row downsampling dropped (a, i, t, n: the model's ``dropped`` file)."""
CODED_SCHEMA = pa.schema(
    [
        ("p", pa.int32()),
        ("ul", pa.int32()),
        ("kind", pa.int8()),
        ("a", pa.int8()),
        ("i", pa.int32()),
        ("t", pa.int64()),
        ("n", pa.int32()),
        ("user_id", pa.string()),
    ]
)
"""A range of users as ``encode_users`` gives it: partition ``p``, the user's code within it
(``ul``; the model's code is the partition's offset plus ``ul``), rows sorted by
(ul, kind, a, i)."""
PARTIAL_SCHEMA = pa.schema(
    [
        ("what", pa.int8()),
        ("c", pa.int16()),
        ("i", pa.int32()),
        ("j", pa.int32()),
        ("n", pa.int64()),
    ]
)
"""One partition's share of a count: ``what`` 0 a pair count k11 (c, i, j), else an item
count (c, i) named by ``PARTIAL_NAMES[what]``."""
PARTIAL_NAMES = ("k11", "left_total", "right_total", "pop_any", "pop_primary", "unprompted")
DIAGONAL = len(PARTIAL_NAMES)
"""``what`` of k11(i, i) per channel (self votes read it)."""
CHUNK_ROWS = 200_000
"""Rows gathered before a chunk of whole groups is scored (bounds a worker's memory)."""


def on_executors(task: Callable[..., Any], batches: Any, ctx: Any, **kwargs: Any) -> Any:
    """``task(batches, ctx.value, **kwargs)``: a task of this module with its broadcast
    context unwrapped on the executor (``partial(on_executors, task, ctx=broadcast)`` is what
    ``mapInArrow`` gets)."""
    return task(batches, ctx.value, **kwargs)


# -- read ---------------------------------------------------------------------------------
def read_files(
    batches: Iterator[pa.RecordBatch],
    params: EventsParams,
    bounds: tuple[int, int],
    out: str | None,
    threads: int = 1,
) -> Iterator[pa.RecordBatch]:
    """Read each (file, path) of the partition with the local reader, on ``threads`` DuckDB
    threads (more than one when there are fewer files than task slots), at most this
    executor machine's cores (the driver's count says nothing of an executor's). Accepted
    events go to ``out/<file>.parquet`` (Spark then reads them with its own Parquet
    reader, in parallel, instead of taking every row through this task), or without ``out``
    (no folder every executor can write) through the rows, as ``EVENT`` rows."""
    threads = max(1, min(threads, os.cpu_count() or 1))
    for batch in batches:
        files = batch.column("file").to_pylist()
        for n, path in zip(files, batch.column("path").to_pylist(), strict=True):
            yield from _read_one(int(n), Path(path), params, bounds, out, threads)


def read_uris(
    batches: Iterator[pa.RecordBatch],
    params: EventsParams,
    bounds: tuple[int, int],
    out: str | None,
    numbers: dict[str, tuple[int, bool]],
    threads: int = 1,
) -> Iterator[pa.RecordBatch]:
    """Read each file Spark's ``binaryFile`` source gave (``path``, ``content``: read through
    Spark's file systems, ``hdfs://``, ``s3a://``...) with the local reader, from a copy in
    this executor's temp folder. ``numbers`` gives each path's file number and whether it was
    found in a folder or by a pattern (then a file of unknown type is skipped, as the local
    engine skips it, instead of failing)."""
    from shopscale.events import UNKNOWN_TYPE, detect_format

    threads = max(1, min(threads, os.cpu_count() or 1))
    for batch in batches:
        contents = batch.column("content")
        for k, path in enumerate(batch.column("path").to_pylist()):
            n, found = numbers[path]
            folder = Path(tempfile.mkdtemp(prefix="shopscale-read-"))
            try:
                local = folder / (path.rsplit("/", 1)[-1] or "input")
                with open(local, "wb") as fh:
                    fh.write(contents[k].as_buffer())
                if found:
                    try:
                        known = detect_format(local) is not None
                    except ShopscaleError as err:
                        yield _rows(ERROR, n, 1, line=[None], reason=[_reason(err)])
                        continue
                    if not known:
                        yield _rows(SKIPPED, n, 1, reason=[UNKNOWN_TYPE])
                        continue
                yield from _read_one(n, local, params, bounds, out, threads)
            finally:
                shutil.rmtree(folder, ignore_errors=True)


def _reason(err: ShopscaleError) -> str:
    """An input error's reason without the path it names (the driver names the file)."""
    return str(getattr(err, "reason", str(err)))


def _read_one(
    n: int,
    path: Path,
    params: EventsParams,
    bounds: tuple[int, int],
    out: str | None,
    threads: int = 1,
) -> Iterator[pa.RecordBatch]:
    """One file: its accepted events (written to Parquet in ``out``, or as rows), its
    rejects and its counts, or its error."""
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
            yield _rows(ERROR, n, 1, line=[getattr(err, "line", None)], reason=[_reason(err)])
            return
        if out is not None:
            target = str(Path(out) / f"{n:06d}.parquet").replace("'", "''")
            con.execute(
                f"COPY (SELECT {n}::INTEGER AS file, user_id, action, item_id, t FROM events) "
                f"TO '{target}' (FORMAT parquet, COMPRESSION snappy)"
            )
        else:
            query = "SELECT user_id, action, item_id, t FROM events"
            for part in con.sql(query).to_arrow_reader(CHUNK_ROWS):
                columns = {k: part.column(k) for k in part.schema.names}
                yield _rows(EVENT, n, part.num_rows, **columns)
        for kind, query in (
            (ITEM, "SELECT DISTINCT item_id FROM events"),
            (ACTION, "SELECT DISTINCT action FROM events"),
            (USER_SAMPLE, _user_sample(parsed)),
        ):
            for part in con.sql(query).to_arrow_reader(CHUNK_ROWS):
                yield _rows(kind, n, part.num_rows, row=part.column(0))
        if report.rejects:
            _, lines, reasons, texts = (list(c) for c in zip(*report.rejects, strict=True))
            yield _rows(REJECT, n, len(lines), line=lines, reason=reasons, row=texts)
        sha = file_sha256(path)
        yield _rows(FILE, n, 1, rows=[parsed], timed=[source.has_timestamp], sha256=[sha])
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _user_sample(rows: int) -> str:
    """The query of a file's sample of user ids (a fixed seed: the ranges only balance the
    partitions, they never change a result)."""
    size = max(USER_SAMPLE_ROWS, rows // USER_SAMPLE_EVERY)
    return f"SELECT user_id FROM events USING SAMPLE reservoir({int(size)} ROWS) REPEATABLE (42)"


def _rows(kind: int, file: int, size: int, **columns: object) -> pa.RecordBatch:
    """A batch of ``READ_SCHEMA`` rows: the given columns, every other one null."""
    arrays = []
    for field in READ_SCHEMA:
        if field.name == "kind":
            arrays.append(pa.array(np.full(size, kind, np.int8)))
        elif field.name == "file":
            arrays.append(pa.array(np.full(size, file, np.int32)))
        elif field.name in columns:
            value = columns[field.name]
            if isinstance(value, pa.ChunkedArray):
                value = value.combine_chunks()
            if isinstance(value, pa.Array):
                arrays.append(value.cast(field.type))
            else:
                arrays.append(pa.array(value, field.type))
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


# -- writing ------------------------------------------------------------------------------
WRITTEN_SCHEMA = pa.schema([("rows", pa.int64()), ("model_users", pa.int64())])
"""What a writing task gives back: its rows (and, for lists, its users with a model entry)."""


def write_part(
    folder: Path,
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    statistics: Sequence[str] | None = None,
    plain: Sequence[str] = (),
) -> int:
    """Write ``batches`` as this task's part of ``folder`` (``part-<partition>.parquet``,
    written as the local engine writes its files: ``store.files.parquet_options``; parts in
    name order are partitions in order), whole or not at all: a retried or speculative
    attempt writes its own hidden file and renames it over; return the rows.

    The executors write Parquet with pyarrow straight from the task's Arrow batches,
    instead of handing every row back to the JVM for Spark's writer."""
    import pyarrow.parquet as pq
    from pyspark import TaskContext

    task = TaskContext.get()
    assert task is not None  # runs inside a Spark task
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{task.partitionId():05d}.parquet"
    tmp = folder / f".{path.name}.{task.taskAttemptId()}"
    rows = 0
    with pq.ParquetWriter(tmp, schema, **parquet_options(schema, statistics, plain)) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    os.replace(tmp, path)
    return rows


def written(rows: int, model_users: int = 0) -> pa.RecordBatch:
    """One ``WRITTEN_SCHEMA`` row."""
    return pa.RecordBatch.from_arrays(
        [pa.array([rows], pa.int64()), pa.array([model_users], pa.int64())],
        schema=WRITTEN_SCHEMA,
    )


STATE_HISTORY = pa.schema(
    [("u", pa.int32()), ("a", pa.int8()), ("i", pa.int32()), ("t", pa.int64()), ("n", pa.int32())]
)
"""The columns of the model's ``history`` and ``dropped`` files."""
STATE_EXCLUDED = pa.schema([("u", pa.int32()), ("i", pa.int32())])
STATE_USERS = pa.schema([("user_id", pa.string())])


STATE_SCHEMAS = (STATE_USERS, STATE_HISTORY, STATE_EXCLUDED, STATE_HISTORY)
"""The user-sized state files in ``_user_state`` order: users, history, excluded, dropped."""


def write_user_state(
    batches: Iterator[pa.RecordBatch],
    offsets: dict[int, int],
    folders: tuple[str, str, str, str],
) -> Iterator[pa.RecordBatch]:
    """A range of users' part of the model's ``users``, ``history``, ``excluded`` and
    ``dropped`` files (``CODED_SCHEMA`` rows, already in their order); codes are the
    partition's offset plus the users' codes inside it."""
    parts = _user_state(batches, offsets)
    rows = 0
    for folder, part, schema in zip(folders, parts, STATE_SCHEMAS, strict=True):
        rows += write_part(Path(folder), [part], schema)
    yield written(rows)


def user_state_rows(
    batches: Iterator[pa.RecordBatch], offsets: dict[int, int], which: int
) -> Iterator[pa.RecordBatch]:
    """One of a range of users' parts of the state (0 users, 1 history, 2 excluded, 3
    dropped) as rows, for Spark's writer (an output no executor can write with pyarrow:
    ``hdfs://``...)."""
    yield _user_state(batches, offsets)[which]


def _user_state(
    batches: Iterator[pa.RecordBatch], offsets: dict[int, int]
) -> tuple[pa.RecordBatch, pa.RecordBatch, pa.RecordBatch, pa.RecordBatch]:
    """A range of users' ``users``, ``history``, ``excluded`` and ``dropped`` rows, codes
    global."""
    from pyspark import TaskContext

    task = TaskContext.get()
    assert task is not None
    table = pa.Table.from_batches(list(batches), CODED_SCHEMA)
    kind = table.column("kind").to_numpy()
    u = table.column("ul").to_numpy().astype(np.int32) + np.int32(
        offsets.get(task.partitionId(), 0)
    )
    who = pa.array(kind == USER)
    users = pa.record_batch([table.column("user_id").filter(who).combine_chunks()], STATE_USERS)
    x = kind == EXCLUDED

    def rows(h: npt.NDArray[np.bool_]) -> pa.RecordBatch:
        return pa.record_batch(
            [pa.array(u[h])]
            + [
                pa.array(table.column(f.name).to_numpy()[h].astype(f.type.to_pandas_dtype()))
                for f in STATE_HISTORY
                if f.name != "u"
            ],
            STATE_HISTORY,
        )

    excluded = pa.record_batch(
        [pa.array(u[x]), pa.array(table.column("i").to_numpy()[x].astype(np.int32))],
        STATE_EXCLUDED,
    )
    return users, rows(kind == HISTORY), excluded, rows(kind == DROPPED)


# -- encode -------------------------------------------------------------------------------
@dataclass(frozen=True)
class EncodeContext:
    """What coding a range of users needs (broadcast once): the item ids in string order
    (their codes), the actions in string order, the downsampling cap, and which actions'
    items a user must never be shown (``rules.excluded_actions``: None = every action)."""

    items: pa.Array
    actions: list[str]
    keep: int
    excluded: list[int] | None


def encode_users(batches: Iterator[pa.RecordBatch], ctx: EncodeContext) -> Iterator[pa.RecordBatch]:
    """Code, dedup and downsample a partition holding every event of a range of users
    (ranges of ``user_id`` in order, ``frames.in_key_order``); rows of ``CODED_SCHEMA``."""
    from pyspark import TaskContext

    held = list(batches)
    if not held or not any(b.num_rows for b in held):
        return
    task = TaskContext.get()
    assert task is not None  # runs inside a Spark task
    part = task.partitionId()
    table = pa.Table.from_batches(held)
    ids = table.column("user_id").combine_chunks()
    users = pc.unique(ids)
    users = users.take(pc.sort_indices(users))  # string (UTF-8 byte) order, as Spark's range
    ul = _codes(ids, users)
    a = _codes(table.column("action"), pa.array(ctx.actions, pa.string())).astype(np.int8)
    i = _codes(table.column("item_id"), ctx.items)
    t = table.column("t").to_numpy()
    ul, a, i, t, n, group = _dedup(ul, a, i, t, len(ctx.actions), len(ctx.items))
    kept = recent_kept(group, t, i, ctx.keep)
    xu, xi = _dropped_exclusions(ul, a, i, kept, ctx.excluded, len(ctx.items))
    n_users, n_kept = len(users), int(kept.sum())
    gone = ~kept
    n_gone = int(gone.sum())
    pad = xu.size + n_users  # the excluded and user rows: no action, time or events
    cols = {
        "ul": np.concatenate([ul[kept], xu, np.arange(n_users, dtype=np.int32), ul[gone]]),
        "kind": np.concatenate(
            [
                np.full(n_kept, HISTORY, np.int8),
                np.full(xu.size, EXCLUDED, np.int8),
                np.full(n_users, USER, np.int8),
                np.full(n_gone, DROPPED, np.int8),
            ]
        ),
        "a": np.concatenate([a[kept], np.zeros(pad, np.int8), a[gone]]),
        "i": np.concatenate([i[kept], xi, np.zeros(n_users, np.int32), i[gone]]),
        "t": np.concatenate([t[kept], np.zeros(pad, np.int64), t[gone]]),
        "n": np.concatenate([n[kept], np.zeros(pad, np.int32), n[gone]]),
    }
    who = np.full(cols["ul"].size, -1, np.int64)
    who[n_kept + xu.size : n_kept + xu.size + n_users] = np.arange(n_users)
    order = np.lexsort((cols["i"], cols["a"], cols["kind"], cols["ul"]))
    who = who[order]
    names = users.take(pa.array(who, mask=who < 0))
    for lo in range(0, order.size, CHUNK_ROWS):
        take = order[lo : lo + CHUNK_ROWS]
        yield pa.RecordBatch.from_arrays(
            [pa.array(np.full(take.size, part, np.int32))]
            + [pa.array(cols[f.name][take], f.type) for f in CODED_SCHEMA if f.name in cols]
            + [names.slice(lo, take.size)],
            schema=CODED_SCHEMA,
        )


def _codes(values: pa.ChunkedArray | pa.Array, dictionary: pa.Array) -> npt.NDArray[np.int32]:
    """Each value's position in ``dictionary`` (every value is in it)."""
    found = pc.index_in(values, value_set=dictionary)
    if found.null_count:
        raise ShopscaleError("a value is missing from its dictionary (input changed while read?)")
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int32)


def _dedup(
    ul: npt.NDArray[np.int32],
    a: npt.NDArray[np.int8],
    i: npt.NDArray[np.int32],
    t: npt.NDArray[np.int64],
    n_actions: int,
    n_items: int,
) -> tuple[npt.NDArray, ...]:
    """One row per (user, action, item) with its latest time and number of events, sorted by
    (user, action, item), and each row's (user, action) group number."""
    key = (ul.astype(np.int64) * n_actions + a) * n_items + i
    order = np.lexsort((t, key))
    ks = key[order]
    ends = np.flatnonzero(np.r_[ks[1:] != ks[:-1], True])
    last = order[ends]  # the latest time of each key
    n = np.diff(np.r_[-1, ends]).astype(np.int32)  # the events of its run
    return ul[last], a[last], i[last], t[last], n, key[last] // n_items


def _dropped_exclusions(
    ul: npt.NDArray[np.int32],
    a: npt.NDArray[np.int8],
    i: npt.NDArray[np.int32],
    kept: npt.NDArray[np.bool_],
    excluded: list[int] | None,
    n_items: int,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """(user, item), sorted and distinct, of what a user must not be shown although
    downsampling dropped it from the kept history (the model's ``excluded`` file)."""
    empty = np.zeros(0, np.int32)
    if bool(kept.all()) or excluded == []:
        return empty, empty
    of = excluded_rows(a, excluded)
    key = ul.astype(np.int64) * n_items + i
    extra = np.setdiff1d(key[of & ~kept], key[of & kept])
    return (extra // n_items).astype(np.int32), (extra % n_items).astype(np.int32)


# -- map ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CountContext:
    """What counting a range of users needs (broadcast once)."""

    params: RecommendParams
    actions: list[str]
    channels: list[str]
    n_items: int


def count_partition(
    batches: Iterator[pa.RecordBatch], ctx: CountContext
) -> Iterator[pa.RecordBatch]:
    """Every count of the model over a partition's users (``counts.count_users``, the local
    map's function) as ``PARTIAL_SCHEMA`` rows; history rows sorted by (ul, a, i)."""
    from shopscale.engine.local.counts import Shard, count_users

    held = [b for b in batches if b.num_rows]
    if not held:
        return
    table = pa.Table.from_batches(held)
    ul = table.column("ul").to_numpy().astype(np.int32)
    shard = Shard(
        lo=0,
        n_users=int(ul[-1]) + 1,
        u=ul,
        a=table.column("a").to_numpy().astype(np.int8),
        i=table.column("i").to_numpy().astype(np.int32),
        t=table.column("t").to_numpy().astype(np.int64),
    )
    del table, held
    counts = count_users(shard, ctx.actions, ctx.channels, ctx.n_items, ctx.params)
    for c, ch in enumerate(ctx.channels):
        m = counts.k11[ch].tocoo()
        for lo in range(0, m.nnz, CHUNK_ROWS):
            hi = lo + CHUNK_ROWS
            yield _partial(0, c, m.row[lo:hi], m.col[lo:hi], m.data[lo:hi])
        yield _item_partial(DIAGONAL, c, counts.k11[ch].diagonal())
        yield _item_partial(PARTIAL_NAMES.index("right_total"), c, counts.right_total[ch])
    for what in ("left_total", "pop_any", "pop_primary", "unprompted"):
        yield _item_partial(PARTIAL_NAMES.index(what), 0, getattr(counts, what))


def _partial(what: int, c: int, i: npt.NDArray, j: npt.NDArray, n: npt.NDArray) -> pa.RecordBatch:
    """``PARTIAL_SCHEMA`` rows of one kind and channel."""
    return pa.RecordBatch.from_arrays(
        [
            pa.array(np.full(i.size, what, np.int8)),
            pa.array(np.full(i.size, c, np.int16)),
            pa.array(i, pa.int32()),
            pa.array(j, pa.int32()),
            pa.array(n, pa.int64()),
        ],
        schema=PARTIAL_SCHEMA,
    )


def _item_partial(what: int, c: int, counts: npt.NDArray) -> pa.RecordBatch:
    """The nonzero entries of a per-item count array as partial rows."""
    i = np.flatnonzero(counts).astype(np.int32)
    return _partial(what, c, i, np.zeros(i.size, np.int32), counts[i])


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
    """Score a partition of (c, i, j, k11) rows holding every channel of its items, sorted
    by (i, c, j), and keep each (channel, item)'s top ``max_similar_per_item`` with their
    votes and ranks; rows come out in (item, channel name, rank) order."""
    name_rank = np.asarray(ctx.name_rank, dtype=np.int64)
    for table in complete_groups(batches, "i"):
        c = table.column("c").to_numpy().astype(np.int16)
        i = table.column("i").to_numpy().astype(np.int32)
        j = table.column("j").to_numpy().astype(np.int32)
        k11 = table.column("k11").to_numpy().astype(np.int64)
        g = i.astype(np.int64) * name_rank.size + name_rank[c]  # one group per (item, channel)
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
    """Kept pairs with their ranks (rows sorted by (g, -score, j))."""
    return pa.RecordBatch.from_arrays(
        [
            pa.array(c, pa.int16()),
            pa.array(i, pa.int32()),
            pa.array(j, pa.int32()),
            pa.array(scores, pa.float64()),
            pa.array(votes, pa.float64()),
            pa.array(rank_in_rows(g), pa.int32()),
            pa.array(np.asarray(ctx.name_rank, dtype=np.int16)[c], pa.int16()),
        ],
        schema=KEPT_SCHEMA,
    )


def write_similar(
    batches: Iterator[pa.RecordBatch], ctx: PairContext, folder: str
) -> Iterator[pa.RecordBatch]:
    """Kept pairs (in output order) written as a part of ``similar_items`` with their ids."""
    yield written(
        write_part(
            Path(folder),
            similar_rows(batches, ctx),
            SIMILAR_ITEMS_SCHEMA,
            STATISTICS["similar_items"],
            PLAIN["similar_items"],
        )
    )


def similar_rows(batches: Iterator[pa.RecordBatch], ctx: PairContext) -> Iterator[pa.RecordBatch]:
    """Kept pairs (sorted for the output) as ``similar_items`` rows with their ids."""
    names = pa.array(ctx.channels, pa.string())
    for b in batches:
        yield pa.RecordBatch.from_arrays(
            [
                ctx.items.take(b.column("i")),
                names.take(b.column("c")),
                b.column("rank"),
                ctx.items.take(b.column("j")),
                b.column("score"),
            ],
            schema=SIMILAR_ITEMS_SCHEMA,
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
    excluded: list[int] | None


def rank_users(batches: Iterator[pa.RecordBatch], ctx: RankContext) -> Iterator[pa.RecordBatch]:
    """Rank a range of users (``CODED_SCHEMA`` rows) with the local engine's kernel; what a
    user must not be shown is the kept history of the excluded actions plus the rows
    downsampling dropped (kind ``EXCLUDED``)."""
    import numba

    from shopscale.engine.local.kernels import score_users
    from shopscale.engine.local.reduce import csr_from_sorted

    numba.set_num_threads(1)  # Spark runs one task per core: no threads inside a task
    n_items, p = len(ctx.items), ctx.params
    for table in complete_groups(batches, "ul", min_rows=CHUNK_ROWS):
        u = table.column("ul").to_numpy()
        kind = table.column("kind").to_numpy()
        a = table.column("a").to_numpy().astype(np.int8)
        i = table.column("i").to_numpy().astype(np.int32)
        who = kind == USER
        users = u[who]
        local = np.searchsorted(users, u).astype(np.int32)
        h = kind == HISTORY
        hu, hj, hw = history_entries(
            local[h],
            a[h],
            i[h],
            table.column("t").to_numpy()[h].astype(np.int64),
            actions=ctx.actions,
            channels=ctx.channels,
            n_items=n_items,
            t_ref=ctx.t_ref,
            params=p,
            n=table.column("n").to_numpy()[h].astype(np.int32),
        )
        blocks = vote_blocks(ctx.channels, p)
        hist = csr_from_sorted(hu, hj, users.size, blocks * n_items, data=hw)
        x = (kind == EXCLUDED) | (h & excluded_rows(a, ctx.excluded))
        key = sorted_unique(local[x].astype(np.int64) * n_items + i[x])
        ex = csr_from_sorted(
            (key // n_items).astype(np.int32), (key % n_items).astype(np.int32), users.size, n_items
        )
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


def write_lists(
    batches: Iterator[pa.RecordBatch], ctx: RankContext, folder: str
) -> Iterator[pa.RecordBatch]:
    """Rank a range of users and write their lists as a part of ``recommendations``."""
    model_users = 0

    def lists() -> Iterator[pa.RecordBatch]:
        nonlocal model_users
        for b in rank_users(batches, ctx):
            first = pc.and_(pc.equal(b.column("rank"), 1), pc.equal(b.column("source"), "model"))
            model_users += int(pc.sum(first).as_py() or 0)
            yield b

    yield written(
        write_part(
            Path(folder),
            lists(),
            RECOMMENDATIONS_SCHEMA,
            STATISTICS["recommendations"],
            PLAIN["recommendations"],
        ),
        model_users,
    )


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
