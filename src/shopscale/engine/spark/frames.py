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


def dense_codes(values: Any, column: str, code: str) -> Any:
    """Distinct ``column`` values with codes 0..n-1 in string (UTF-8 byte) order.

    A range partition sorts the values across partitions; each row's code is its partition's
    offset (rows of the partitions before it: one small count per partition) plus its
    position in the partition. No window over one partition, no row-at-a-time Python."""
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
    coded.count()
    ranged.unpersist()
    return coded


def per_item(counts: Any, n_items: int, key: str = "i", value: str = "count") -> npt.NDArray:
    """A (key, value) aggregate as a dense int64 array over item codes (item-sized)."""
    table = counts.select(key, value).toArrow()
    out = np.zeros(n_items, dtype=np.int64)
    out[table.column(key).to_numpy()] = table.column(value).to_numpy()
    return out


def per_key(
    counts: Any, n_items: int, n_keys: int, *, key: str = "j", value: str = "count"
) -> list[npt.NDArray]:
    """A (c, key, value) aggregate as one dense int64 array per channel c."""
    table = counts.select("c", key, value).toArrow()
    c = table.column("c").to_numpy()
    k = table.column(key).to_numpy()
    v = table.column(value).to_numpy()
    out = [np.zeros(n_items, dtype=np.int64) for _ in range(n_keys)]
    for n in range(n_keys):
        out[n][k[c == n]] = v[c == n]
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
