"""DataFrame helpers of the Spark engine: Arrow schemas as Spark DDL, local paths as URIs,
partitions that are ordered ranges of a key, and the counts writing tasks give back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

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


def uri(path: Path) -> str:
    """A local path as the URI Spark's file systems read and write."""
    return Path(path).absolute().as_uri()


def bucket_keys(spark: Any, parts: int) -> list[int]:
    """For each bucket b < ``parts``, an int whose hash partitioning (``repartition(parts,
    col)``: Murmur3, seed 42, modulo ``parts``) is partition b: a column of ``keys[b]`` puts
    bucket b in partition b, so buckets that are item ranges give partitions in item order
    without the sampling job of a range partition."""
    from pyspark.sql import functions as F  # noqa: N812

    k = F.col("id").cast("int")
    found = (
        spark.range(0, 64 * parts)
        .select(k.alias("k"), F.pmod(F.hash(k), F.lit(parts)).alias("b"))
        .groupBy("b")
        .agg(F.min("k").alias("k"))
        .collect()
    )
    keys = {int(b): int(key) for b, key in found}
    if len(keys) != parts:  # each of 64 * parts draws misses a bucket with chance 1 / parts
        raise RuntimeError(f"no hash key found for every one of {parts} partitions")
    return [keys[b] for b in range(parts)]


def in_key_order(df: Any, bucket: Any, keys: list[int]) -> Any:
    """``df`` with a column ``_k`` that, hash-partitioned into ``len(keys)`` partitions
    (``repartition(len(keys), "_k")``; ``keys`` from ``bucket_keys``), puts the rows of
    ``bucket`` (an int column, 0 <= bucket < len(keys)) in partition ``bucket``: ordered
    ranges without a range partition's sampling passes."""
    from pyspark.sql import functions as F  # noqa: N812

    column = F.array(*[F.lit(k) for k in keys])
    return df.withColumn("_k", F.element_at(column, bucket + 1))


def range_bucket(column: str, bounds: list[str]) -> Any:
    """The range of a string column: the number of ``bounds`` (sorted) not above it."""
    from pyspark.sql import functions as F  # noqa: N812

    expr = None
    for b, bound in enumerate(bounds):
        cond = F.col(column) < F.lit(bound)
        expr = F.when(cond, F.lit(b)) if expr is None else expr.when(cond, F.lit(b))
    return F.lit(0) if expr is None else expr.otherwise(F.lit(len(bounds)))


def range_bounds(ids: pa.Array, weights: npt.NDArray[np.float64], parts: int) -> list[str]:
    """At most ``parts - 1`` ids, sorted and distinct, cutting the weighted sample of ids
    into ranges of about equal weight (string (UTF-8 byte) order: Spark's and Arrow's)."""
    if parts <= 1 or len(ids) == 0:
        return []
    order = np.asarray(pc.sort_indices(ids).to_numpy(), dtype=np.int64)
    cum = np.cumsum(np.asarray(weights, dtype=np.float64)[order])
    cuts = cum[-1] * np.arange(1, parts) / parts
    pos = np.minimum(np.searchsorted(cum, cuts), order.size - 1)
    picked = ids.take(pa.array(order[pos])).to_pylist()
    return sorted(set(picked))


def rows_written(df: Any) -> tuple[int, int]:
    """Run the writing tasks of ``df`` (``tasks.WRITTEN_SCHEMA`` rows); their summed rows
    and users with a model entry."""
    table = df.toArrow()
    return (
        int(pc.sum(table.column("rows")).as_py() or 0),
        int(pc.sum(table.column("model_users")).as_py() or 0),
    )


def write_parquet(df: Any, dest: Path | str) -> None:
    """Write a DataFrame as a folder of Parquet parts (zstd) with Spark's writer, from the
    executors, parts in partition order, to a local path or a URI."""
    df.write.option("compression", "zstd").parquet(dest if isinstance(dest, str) else uri(dest))


def parquet_rows(spark: Any, where: str) -> int:
    """Rows of a folder of Parquet parts (from their footers)."""
    return int(spark.read.parquet(where).count())


def java_message(err: Any) -> str:
    """The first line of a py4j error's Java exception message (its class when it has none)."""
    java = err.java_exception
    name = str(java.getClass().getName())
    text = str(java.getMessage() or name).strip()
    return text.splitlines()[0] if text else name
