"""The Spark engine: the recommendation job with the DataFrame API, the same answers as the
local engine (``tests/engine/test_conformance.py`` runs both).

Stages (docs/spark.md maps each onto Spark stages and shuffles): read: one task per file runs
the shared reader and writes the accepted events to Parquet; encode: one shuffle gives each
partition a range of users (in id order), coded, deduplicated and downsampled in NumPy by
the shared rules; map: each range counted by the local map's function, the partial sums
added up in ranges of items; reduce: each range of items scored and cut by the shared rules;
rank: each range of users ranked by the local engine's kernel with the broadcast vote
matrix. Python tasks call the same functions as the local engine (``tasks``); outputs and the
model state are written by the executors, in order, without a global sort.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from shopscale.engine.base import (
    RECOMMENDATIONS_SCHEMA,
    SIMILAR_ITEMS_SCHEMA,
    CatalogSizes,
    ReadCounts,
    Written,
)
from shopscale.engine.local.counts import channels_for
from shopscale.engine.local.reduce import Kept, vote_matrix
from shopscale.engine.spark import frames
from shopscale.engine.spark.reading import SparkRead, read
from shopscale.engine.spark.session import get_spark
from shopscale.engine.spark.state import write_spark_model
from shopscale.engine.spark.tasks import (
    CODED_SCHEMA,
    DIAGONAL,
    HISTORY,
    KEPT_SCHEMA,
    PARTIAL_NAMES,
    PARTIAL_SCHEMA,
    USER,
    WRITTEN_SCHEMA,
    CountContext,
    EncodeContext,
    PairContext,
    RankContext,
    count_partition,
    encode_users,
    on_executors,
    rank_users,
    score_pairs,
    similar_rows,
    write_lists,
    write_similar,
)
from shopscale.errors import ShopscaleError
from shopscale.events import EventsParams
from shopscale.ids import string_order
from shopscale.log import get_logger
from shopscale.recommend.model import Counts
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.rules import (
    PairScoring,
    excluded_actions,
    popularity_order,
    prior_votes,
    repeats_on,
    self_vote_values,
    self_votes_on,
    zero_diagonal,
)
from shopscale.store.versions import TRASH_PREFIX

log = get_logger("engine.spark")

ProgressFn = Callable[[str, int, int], None]
EVENTS_PER_TASK = 2_500_000
"""Events per range of users in encode, map and rank: bounds a task's memory (the
partition's events, coded in NumPy, and its partial pair counts)."""


class SparkEngine:
    """The job on a Spark cluster (or ``local[N]``); the driver holds only item-sized arrays."""

    name = "spark"
    model_beside_reduce = False  # its writes are Spark jobs of their own, run in turn

    def __init__(
        self,
        *,
        master: str = "local[2]",
        conf: dict[str, str] | None = None,
        progress: ProgressFn | None = None,
        scratch: Path | None = None,
        **_local_only: object,
    ) -> None:
        """``scratch``: where the read events are kept as Parquet while the job runs (a
        folder every executor reads at the same path: the pipeline gives the output
        folder); a temporary folder when not given."""
        from pyspark.sql import SparkSession

        self._owned = SparkSession.getActiveSession() is None
        self.spark = get_spark(master or "local[2]", "shopscale-recommend", conf)
        self.progress = progress or (lambda stage, done, total: None)
        self._cached: list[Any] = []
        self._read: SparkRead | None = None
        self._events: EventsParams | None = None
        self._paths: list[Path] = []
        self._scratch_root = scratch
        self._scratch: Path | None = None
        self._sink: tuple[Path, str] | None = None

    def publish_to(self, local: Path, staging: str) -> None:
        """Outputs go to a Hadoop file system (``publish.HadoopVersions``): what the job
        would write under ``local`` the executors write under the URI ``staging`` instead,
        with Spark's writer (no executor shares a folder with the driver there), and the
        read events stay in Spark rather than in a scratch folder."""
        self._sink = (local.resolve(), staging.rstrip("/"))

    def _remote(self, dest: Path) -> str | None:
        """The URI the executors write ``dest`` to, or None when they write ``dest`` itself."""
        if self._sink is None:
            return None
        local, staging = self._sink
        try:
            relative = Path(dest).resolve().relative_to(local)
        except ValueError:
            return None
        return f"{staging}/{relative.as_posix()}"

    def _keep(self, df: Any) -> Any:
        """Persist a DataFrame used by several later steps (released by ``close``)."""
        from pyspark import StorageLevel

        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(df)
        return df

    # -- read / validate ------------------------------------------------------------------
    def read(self, paths: Sequence[Path], params: EventsParams) -> ReadCounts:
        """Every file read and validated on the executors by the shared reader."""
        if self._sink is None:
            self._scratch = Path(
                tempfile.mkdtemp(prefix=f"{TRASH_PREFIX}spark-", dir=self._scratch_root)
            )
        events = None if self._scratch is None else self._scratch / "events"
        self._read = read(self.spark, paths, params, events, keep=self._keep)
        self._events, self._paths = params, list(paths)
        self.progress("read", len(paths), len(paths))
        return self._read.counts

    # -- encode ---------------------------------------------------------------------------
    def encode(self, params: RecommendParams) -> CatalogSizes:
        """Codes in id string order; dedupe (latest time); keep each user's recent items.

        Items and actions are small: the read tasks gave them, the driver sorts them (their
        codes) and they go out as broadcast dictionaries. Users are not: the read tasks'
        sample of user ids cuts them into ranges, one shuffle gives each partition every
        event of a range of users, in id order, and ``tasks.encode_users`` codes, dedups and
        downsamples them there; a user's code is its partition's offset (users in
        the partitions before it: one small count per partition) plus its rank inside."""
        from pyspark.sql import functions as F  # noqa: N812

        assert self._read is not None
        events = self._read.events
        actions = self._read.actions
        if not actions:
            raise ShopscaleError("no valid events to learn from")
        self.actions, self.channels = actions, channels_for(params, actions)
        ids = self._read.items
        self.item_ids = ids.take(pa.array(string_order(ids)[0]))
        enc = EncodeContext(
            self.item_ids,
            actions,
            int(params.max_items_per_user),
            excluded_actions(params, actions),
        )
        sc = self.spark.sparkContext
        accepted = self._read.counts.accepted
        wanted = max(sc.defaultParallelism, math.ceil(accepted / EVENTS_PER_TASK))
        bounds = frames.range_bounds(*self._read.user_sample, wanted)
        self._parts = len(bounds) + 1
        self._keys = frames.bucket_keys(self.spark, self._parts)  # for users here, items in map
        ranged = frames.in_key_order(events, frames.range_bucket("user_id", bounds), self._keys)
        self.coded = self._keep(
            ranged.repartition(self._parts, "_k").mapInArrow(
                partial(on_executors, encode_users, ctx=sc.broadcast(enc)), frames.ddl(CODED_SCHEMA)
            )
        )
        sizes = self.coded.groupBy("p").agg(
            F.sum((F.col("kind") == USER).cast("long")).alias("users"),
            F.sum((F.col("kind") == HISTORY).cast("long")).alias("inter"),
            F.max(F.when(F.col("kind") == HISTORY, F.col("t"))).alias("t"),
        )
        per_part = sorted(tuple(r) for r in sizes.collect())
        offsets, total = {}, 0
        for p, n, _, _ in per_part:
            offsets[int(p)] = total
            total += int(n)
        self.offsets = offsets
        self.n_users = total
        self.t_ref = max(int(r[3]) for r in per_part if r[3] is not None)
        self.progress("encode", 1, 1)
        n_inter = sum(int(r[2]) for r in per_part)
        return CatalogSizes(self.n_users, len(ids), tuple(actions), n_inter)

    # -- map ------------------------------------------------------------------------------
    def map(self, params: RecommendParams) -> None:
        """Every count of the model: each range of users counted by the local map's function
        (``tasks.count_partition``), the partial sums added up by one shuffle; item counts
        (small) come to the driver."""
        from pyspark.sql import functions as F  # noqa: N812

        n_items = len(self.item_ids)
        ctx = CountContext(params, self.actions, self.channels, n_items)
        history = self.coded.filter(F.col("kind") == HISTORY).select("ul", "a", "i", "t")
        partials = history.mapInArrow(
            partial(on_executors, count_partition, ctx=self.spark.sparkContext.broadcast(ctx)),
            frames.ddl(PARTIAL_SCHEMA),
        )
        # partitions are ranges of items in order (the sum needs no other shuffle), sorted by
        # (i, c, j): reduce finds every pair of an item in one partition, and the outputs
        # are written in order without a global sort
        bucket = F.expr(f"int((cast(i AS bigint) * {self._parts}) div {max(1, n_items)})")
        keyed = frames.in_key_order(partials, bucket, self._keys)
        summed = self._keep(
            keyed.repartition(self._parts, "_k")
            .groupBy("_k", "what", "c", "i", "j")
            .agg(F.sum("n").alias("n"))
            .sortWithinPartitions("i", "what", "c", "j")
        )
        self.pairs = summed.filter(F.col("what") == 0).select(
            "c", "i", "j", F.col("n").alias("k11")
        )
        small = summed.filter(F.col("what") != 0).toArrow()
        what, c, i, n = (small.column(x).to_numpy() for x in ("what", "c", "i", "n"))

        def dense(kind: int, channel: int = 0) -> Any:
            out = np.zeros(n_items, dtype=np.int64)
            m = (what == kind) & (c == channel)
            out[i[m]] = n[m]
            return out

        totals = Counts.zeros(n_items, [])
        name = PARTIAL_NAMES.index
        totals.left_total = dense(name("left_total"))
        totals.right_total = {
            ch: dense(name("right_total"), k) for k, ch in enumerate(self.channels)
        }
        totals.pop_any = dense(name("pop_any"))
        totals.pop_primary = dense(name("pop_primary"))
        totals.unprompted = dense(name("unprompted"))
        self.diagonal = [dense(DIAGONAL, k) for k in range(len(self.channels))]
        self.totals = totals
        self.progress("map", 1, 1)

    # -- the model state ------------------------------------------------------------------
    def write_model(self, folder: Path, params: RecommendParams) -> None:
        """Write the model state (``recommend.model`` files; the large ones by executors)."""
        assert self._read is not None and self._events is not None
        write_spark_model(self, folder, params, self._events, self._read)

    # -- reduce ---------------------------------------------------------------------------
    def reduce(self, params: RecommendParams, dest: Path) -> Written:
        """Score every pair, keep the top per (item, channel); write ``similar_items``."""
        n_items = len(self.item_ids)
        names = sorted(range(len(self.channels)), key=lambda c: self.channels[c])
        name_rank = [0] * len(self.channels)
        for pos, c in enumerate(names):
            name_rank[c] = pos
        scorings = [
            PairScoring(
                self.totals.left_total,
                self.totals.right_total[ch],
                self.n_users,
                zero_diagonal=zero_diagonal(params, ch),
            )
            for ch in self.channels
        ]
        ctx = self.spark.sparkContext.broadcast(
            PairContext(params, scorings, self.channels, name_rank, self.item_ids, n_items)
        )
        # ranges of items in order, sorted by (i, c, j) (``map``): scored in place, and the
        # kept rows come out in output order (item, channel name, rank)
        kept = self._keep(
            self.pairs.mapInArrow(
                partial(on_executors, score_pairs, ctx=ctx), frames.ddl(KEPT_SCHEMA)
            )
        )
        target = self._remote(dest)
        if target is None:
            task = partial(on_executors, write_similar, ctx=ctx, folder=str(dest))
            rows = frames.rows_written(kept.mapInArrow(task, frames.ddl(WRITTEN_SCHEMA)))[0]
        else:
            task = partial(on_executors, similar_rows, ctx=ctx)
            written = kept.mapInArrow(task, frames.ddl(SIMILAR_ITEMS_SCHEMA))
            frames.write_parquet(written, target)
            rows = frames.parquet_rows(self.spark, target)
        self.votes = self._vote_matrix(kept, params, n_items)
        self.progress("reduce", 1, 1)
        return Written(dest, rows)

    def _vote_matrix(self, kept: Any, params: RecommendParams, n_items: int) -> Any:
        """The kept pairs' votes (items x top-k per channel: item-sized) as the CSR the rank
        kernel reads, with each channel's self votes."""
        table = kept.select("c", "i", "j", "vote").toArrow()
        c = table.column("c").to_numpy()
        parts, own = [], []
        for n, ch in enumerate(self.channels):
            m = c == n
            i = table.column("i").to_numpy()[m].astype(np.int32)
            j = table.column("j").to_numpy()[m].astype(np.int32)
            votes = table.column("vote").to_numpy()[m]
            parts.append(Kept(i, j, votes, votes, n))
            if self_votes_on(params, ch):
                items, rates = self_vote_values(
                    self.diagonal[n], self.totals.right_total[ch], params
                )
                own.append((items, rates, n))
        return vote_matrix(parts, own, n_items, repeats=repeats_on(params))

    # -- rank -----------------------------------------------------------------------------
    def rank(self, params: RecommendParams, dest: Path) -> Written:
        """Rank every range of users with the local kernel; write ``recommendations``."""
        t = self.totals
        prior = prior_votes(t.unprompted, t.left_total, self.n_users, params)
        v = self.votes
        ctx = RankContext(
            params,
            (v.indptr.astype(np.int64), v.indices.astype(np.int32), v.data.astype(np.float64)),
            popularity_order(t.pop_any, t.pop_primary),
            prior,
            self.actions,
            self.channels,
            self.item_ids,
            self.t_ref,
            excluded_actions(params, self.actions),
        )
        bc = self.spark.sparkContext.broadcast(ctx)
        target = self._remote(dest)
        if target is None:
            task = partial(on_executors, write_lists, ctx=bc, folder=str(dest))
            n_rows, model_users = frames.rows_written(
                self.coded.mapInArrow(task, frames.ddl(WRITTEN_SCHEMA))
            )
        else:
            from pyspark.sql import functions as F  # noqa: N812

            lists = self.coded.mapInArrow(
                partial(on_executors, rank_users, ctx=bc), frames.ddl(RECOMMENDATIONS_SCHEMA)
            )
            frames.write_parquet(lists, target)
            n_rows = frames.parquet_rows(self.spark, target)
            first = (F.col("rank") == 1) & (F.col("source") == "model")
            model_users = self.spark.read.parquet(target).filter(first).count()
        self.progress("rank", 1, 1)
        return Written(dest, n_rows, model_users)

    def close(self) -> None:
        """Release cached data; stop the session if this engine started it."""
        for df in self._cached:
            df.unpersist()
        self._cached.clear()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        if self._owned:
            self.spark.stop()
