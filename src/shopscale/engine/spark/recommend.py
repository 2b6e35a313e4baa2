"""The Spark engine: the recommendation job with the DataFrame API, the same answers as the
local engine (``tests/engine/test_conformance.py`` runs both).

Stages (docs/spark.md maps each onto Spark stages and shuffles):
read: one task per file runs the shared reader; encode: dense codes in id string order by a
range partition (no single-partition window), dedup per (user, action, item), downsampling by
a window per (user, action); map: the primary side joined on user with each indicator side
(after downsampling), counted per (channel, item, item); item marginals are small and come to
the driver; reduce: pair partitions scored and cut to the top per item by the shared rules in
``mapInArrow``; rank: user partitions ranked by the local engine's kernel with the broadcast
vote matrix. Both outputs and the model state are written by the executors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from shopscale.engine.base import CatalogSizes, ReadCounts, Written
from shopscale.engine.local.counts import channels_for
from shopscale.engine.local.reduce import Kept, vote_matrix
from shopscale.engine.spark import frames
from shopscale.engine.spark.reading import SparkRead, read
from shopscale.engine.spark.session import get_spark
from shopscale.engine.spark.state import write_spark_model
from shopscale.engine.spark.tasks import (
    KEPT_SCHEMA,
    PairContext,
    RankContext,
    rank_users,
    score_pairs,
)
from shopscale.errors import ShopscaleError
from shopscale.events import EventsParams
from shopscale.ids import string_order
from shopscale.log import get_logger
from shopscale.recommend.model import Counts
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.rules import (
    ANY,
    RECENT_FIRST,
    PairScoring,
    left_name,
    popularity_order,
    prior_votes,
    self_vote_values,
    self_votes_on,
    zero_diagonal,
)

log = get_logger("engine.spark")

ProgressFn = Callable[[str, int, int], None]


class SparkEngine:
    """The job on a Spark cluster (or ``local[N]``); the driver holds only item-sized arrays."""

    name = "spark"

    def __init__(
        self,
        *,
        master: str = "local[2]",
        conf: dict[str, str] | None = None,
        progress: ProgressFn | None = None,
        **_local_only: object,
    ) -> None:
        from pyspark.sql import SparkSession

        self._owned = SparkSession.getActiveSession() is None
        self.spark = get_spark(master or "local[2]", "shopscale-recommend", conf)
        self.progress = progress or (lambda stage, done, total: None)
        self._cached: list[Any] = []
        self._read: SparkRead | None = None
        self._events: EventsParams | None = None
        self._paths: list[Path] = []

    def _keep(self, df: Any) -> Any:
        """Persist a DataFrame used by several later steps (released by ``close``)."""
        from pyspark import StorageLevel

        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(df)
        return df

    # -- read / validate ------------------------------------------------------------------
    def read(self, paths: Sequence[Path], params: EventsParams) -> ReadCounts:
        """Every file read and validated on the executors by the shared reader."""
        self._read = read(self.spark, paths, params)
        self._events, self._paths = params, list(paths)
        self.progress("read", len(paths), len(paths))
        return self._read.counts

    # -- encode ---------------------------------------------------------------------------
    def encode(self, params: RecommendParams) -> CatalogSizes:
        """Codes in id string order; dedupe (latest time); keep each user's recent items."""
        from pyspark.sql import functions as F  # noqa: N812

        assert self._read is not None
        events = self._read.events
        actions = sorted(r[0] for r in events.select("action").distinct().collect())
        if not actions:
            raise ShopscaleError("no valid events to learn from")
        self.actions, self.channels = actions, channels_for(params, actions)
        self.users, self.n_users = frames.dense_codes(events.select("user_id"), "user_id", "u")
        self.items, _ = frames.dense_codes(events.select("item_id"), "item_id", "i")
        self._cached += [self.users, self.items]
        ids = self.items.orderBy("i").select("item_id").toArrow().column(0).combine_chunks()
        order, _ = string_order(ids)  # Spark's byte order is Python's string order: check
        if not np.array_equal(order, np.arange(order.size)):
            raise ShopscaleError("Spark sorted item ids differently from their string order")
        self.item_ids = ids
        acts = self.spark.createDataFrame(list(enumerate(actions)), "a byte, action string")
        self.dedup = self._keep(
            events.join(self.users, "user_id")
            .join(F.broadcast(self.items), "item_id")
            .join(F.broadcast(acts), "action")
            .groupBy("u", "a", "i")
            .agg(F.max("t").alias("t"))
        )
        recent = F.expr(f"row_number() OVER (PARTITION BY u, a ORDER BY {RECENT_FIRST})")
        keep = int(params.max_items_per_user)
        self.inter = self._keep(
            self.dedup.withColumn("_r", recent).filter(F.col("_r") <= keep).drop("_r")
        )
        n_inter, t_max = self.inter.agg(F.count("*"), F.max("t")).first()
        self.t_ref = int(t_max)
        self.progress("encode", 1, 1)
        return CatalogSizes(self.n_users, len(ids), tuple(actions), int(n_inter))

    # -- map ------------------------------------------------------------------------------
    def map(self, params: RecommendParams) -> None:
        """Pair counts per (channel, item, item) and every item count of the model."""
        from pyspark.sql import functions as F  # noqa: N812

        n_items = len(self.item_ids)
        left = self._selection(left_name(params))
        right = None
        for c, ch in enumerate(self.channels):
            side = self._selection(ch).select("u", F.col("i").alias("j"), F.lit(c).alias("c"))
            right = side if right is None else right.unionByName(side)
        assert right is not None
        self.pairs = self._keep(
            left.join(right, "u").groupBy("c", "i", "j").agg(F.count("*").alias("k11"))
        )
        engaging = [
            self.actions.index(ch) for ch in self.channels if ch not in (left_name(params), ANY)
        ]
        engaged = self.inter.filter(F.col("a").isin(engaging)).select("u", "i").distinct()
        zero = F.lit(0).alias("c")
        parts = {
            "left_total": left.groupBy("i").count().select(zero, "i", F.col("count").alias("n")),
            "right_total": right.groupBy("c", "j")
            .count()
            .select("c", F.col("j").alias("i"), F.col("count").alias("n")),
            "pop_any": self._selection(ANY)
            .groupBy("i")
            .agg(F.count("*").alias("n"))
            .select(zero, "i", "n"),
            "unprompted": left.join(engaged, ["u", "i"], "left_anti")
            .groupBy("i")
            .agg(F.count("*").alias("n"))
            .select(zero, "i", "n"),
            "diagonal": self.pairs.filter(F.col("i") == F.col("j")).select(
                "c", "i", F.col("k11").alias("n")
            ),
        }
        if params.primary in self.actions:
            parts["pop_primary"] = (
                self._selection(params.primary)
                .groupBy("i")
                .agg(F.count("*").alias("n"))
                .select(zero, "i", "n")
            )
        got = frames.item_counts(parts, n_items, len(self.channels))
        totals = Counts.zeros(n_items, [])
        totals.left_total = got["left_total"][0]
        totals.right_total = {ch: got["right_total"][c] for c, ch in enumerate(self.channels)}
        totals.pop_any = got["pop_any"][0]
        if "pop_primary" in got:
            totals.pop_primary = got["pop_primary"][0]
        totals.unprompted = got["unprompted"][0]
        self.diagonal = got["diagonal"]
        self.totals = totals
        self.progress("map", 1, 1)

    def _selection(self, channel: str) -> Any:
        """(u, i) of one action's kept history, or of any action for ``any``."""
        from pyspark.sql import functions as F  # noqa: N812

        if channel == ANY:
            return self.inter.select("u", "i").distinct()
        code = self.actions.index(channel)
        return self.inter.filter(F.col("a") == code).select("u", "i")

    # -- the model state ------------------------------------------------------------------
    def write_model(self, folder: Path, params: RecommendParams) -> None:
        """Write the model state (``recommend.model`` files; the large ones by executors)."""
        assert self._read is not None and self._events is not None
        write_spark_model(self, folder, params, self._events, self._read)

    def exclusions(self, params: RecommendParams) -> Any:
        """(u, i) of every item each user must not be shown, from every event."""
        from pyspark.sql import functions as F  # noqa: N812

        if params.exclude == "none" or (
            params.exclude == "primary" and params.primary not in self.actions
        ):
            return self.dedup.filter(F.lit(False)).select("u", "i")
        if params.exclude == "any":
            return self.dedup.select("u", "i").distinct()
        return self.dedup.filter(F.col("a") == self.actions.index(params.primary)).select("u", "i")

    # -- reduce ---------------------------------------------------------------------------
    def reduce(self, params: RecommendParams, dest: Path) -> Written:
        """Score every pair, keep the top per (item, channel); write ``similar_items``."""
        from pyspark.sql import functions as F  # noqa: N812

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
        grouped = (
            self.pairs.withColumn("g", F.col("c").cast("long") * n_items + F.col("i"))
            .repartition("g")
            .sortWithinPartitions("g", "j")
        )
        kept = self._keep(grouped.mapInArrow(partial(_score, ctx=ctx), frames.ddl(KEPT_SCHEMA)))
        out = kept.orderBy("i", "name_rank", "rank").select(
            "item_id", "action", "rank", "similar_item_id", "score"
        )
        rows = frames.write_parquet(out, dest)
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
        return vote_matrix(parts, own, n_items)

    # -- rank -----------------------------------------------------------------------------
    def rank(self, params: RecommendParams, dest: Path) -> Written:
        """Rank every user's partition with the local kernel; write ``recommendations``."""
        from pyspark.sql import functions as F  # noqa: N812

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
        )
        bc = self.spark.sparkContext.broadcast(ctx)
        parts = max(
            self.spark.sparkContext.defaultParallelism,
            min(10_000, math.ceil(self.n_users / params.users_per_shard)),
        )
        rows = frames.rank_rows(self.inter, self.exclusions(params), self.users)
        ranked = (
            rows.repartitionByRange(parts, "u")
            .sortWithinPartitions("u", "kind", "a", "i")
            .mapInArrow(partial(_rank, ctx=bc), frames.RECS_DDL)
        )
        frames.write_parquet(ranked, dest, count=False)
        back = self.spark.read.parquet(frames.uri(dest))
        first = (F.col("rank") == 1) & (F.col("source") == "model")
        n_rows, model_users = back.agg(F.count("*"), F.sum(F.when(first, 1).otherwise(0))).first()
        self.progress("rank", 1, 1)
        return Written(dest, int(n_rows), int(model_users or 0))

    def close(self) -> None:
        """Release cached data; stop the session if this engine started it."""
        for df in self._cached:
            df.unpersist()
        self._cached.clear()
        if self._owned:
            self.spark.stop()


def _score(batches: Any, ctx: Any) -> Any:
    """``tasks.score_pairs`` with the broadcast context (runs on the executors)."""
    return score_pairs(batches, ctx.value)


def _rank(batches: Any, ctx: Any) -> Any:
    """``tasks.rank_users`` with the broadcast context (runs on the executors)."""
    return rank_users(batches, ctx.value)
