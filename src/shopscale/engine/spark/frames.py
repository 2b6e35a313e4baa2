"""DataFrame helpers of the Spark engine: dense codes without a single-partition window, small
per-item aggregates brought to the driver as NumPy arrays, and Parquet outputs written by the
executors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from shopscale.engine.base import RECOMMENDATIONS_SCHEMA

_DDL = {
    pa.int8(): "byte",
    pa.int16(): "short",
    pa.int32(): "int",
    pa.int64(): "long",
    pa.float64(): "double",
    pa.string(): "string",
    pa.bool_(): "boolean",
}


def ddl(schema: pa.Schema) -> str:
    """The Spark DDL of an Arrow schema (the types ``mapInArrow`` tasks give)."""
    return ", ".join(f"{f.name} {_DDL[f.type]}" for f in schema)


RECS_DDL = ddl(RECOMMENDATIONS_SCHEMA)


def uri(path: Path) -> str:
    """A local path as the URI Spark's file systems read and write."""
    return Path(path).absolute().as_uri()


def dense_codes(values: Any, column: str, code: str) -> tuple[Any, int]:
    """Distinct ``column`` values with codes 0..n-1 in string (UTF-8 byte) order.

    A range partition sorts the values across partitions; each row's code is its partition's
    offset (rows of the partitions before it: one small count per partition) plus its
    position in the partition. No window over one partition, no row-at-a-time Python.
    Returns the coded values (persisted) and their number."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F  # noqa: N812

    spark = values.sparkSession
    parts = max(2, spark.sparkContext.defaultParallelism)
    ranged = (
        values.distinct()
        .repartitionByRange(parts, column)
        .sortWithinPartitions(column)
        .withColumn("_p", F.spark_partition_id())
        .withColumn("_m", F.monotonically_increasing_id())
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    sizes = dict(ranged.groupBy("_p").count().collect())
    offsets, total = [], 0
    for p in range(max(sizes, default=-1) + 1):
        offsets.append((p, total))
        total += int(sizes.get(p, 0))
    table = spark.createDataFrame(offsets, "_p int, _o long")
    position = F.col("_m") - F.shiftleft(F.col("_p").cast("long"), 33)
    coded = ranged.join(F.broadcast(table), "_p").select(
        column, (F.col("_o") + position).cast("int").alias(code)
    )
    coded = coded.persist(StorageLevel.MEMORY_AND_DISK)
    coded.count()  # materialised while ``ranged`` (whose partitions gave the offsets) is held
    ranged.unpersist()
    return coded, total


def item_counts(
    parts: dict[str, Any], n_items: int, n_channels: int
) -> dict[str, list[npt.NDArray]]:
    """Small per-item aggregates, each a DataFrame of (c, i, n), brought to the driver in one
    Spark job as dense int64 arrays: ``name -> [array of channel 0, ...]`` (aggregates without
    a channel use c = 0)."""
    from pyspark.sql import functions as F  # noqa: N812

    names = list(parts)
    union = None
    for k, name in enumerate(names):
        df = parts[name].select(
            F.lit(k).alias("what"),
            F.col("c").cast("int"),
            F.col("i").cast("int"),
            F.col("n").cast("long"),
        )
        union = df if union is None else union.unionByName(df)
    assert union is not None
    table = union.toArrow()
    what, c, i, n = (table.column(x).to_numpy() for x in ("what", "c", "i", "n"))
    out: dict[str, list[npt.NDArray]] = {}
    for k, name in enumerate(names):
        arrays = [np.zeros(n_items, dtype=np.int64) for _ in range(n_channels)]
        for ch in range(n_channels):
            m = (what == k) & (c == ch)
            arrays[ch][i[m]] = n[m]
        out[name] = arrays
    return out


def rank_rows(inter: Any, excluded: Any, users: Any) -> Any:
    """The rank stage's rows (``tasks.RANK_INPUT``): history entries (kind 0), excluded
    items (kind 1) and each user's id (kind 2), so one partition holds whole users."""
    from pyspark.sql import functions as F  # noqa: N812

    null = F.lit(None).cast("string")
    zero = F.lit(0)
    return (
        inter.select("u", zero.cast("byte").alias("kind"), "a", "i", "t", null.alias("user_id"))
        .unionByName(
            excluded.select(
                "u",
                F.lit(1).cast("byte").alias("kind"),
                zero.cast("byte").alias("a"),
                "i",
                zero.cast("long").alias("t"),
                null.alias("user_id"),
            )
        )
        .unionByName(
            users.select(
                "u",
                F.lit(2).cast("byte").alias("kind"),
                zero.cast("byte").alias("a"),
                zero.cast("int").alias("i"),
                zero.cast("long").alias("t"),
                "user_id",
            )
        )
    )


def write_parquet(df: Any, dest: Path, *, count: bool = True) -> int:
    """Write a DataFrame as a folder of Parquet parts (zstd) from the executors; return its
    rows (read from the parts' footers) or 0 without ``count``."""
    df.write.option("compression", "zstd").parquet(uri(dest))
    if not count:
        return 0
    return int(df.sparkSession.read.parquet(uri(dest)).count())
