"""Plain PySpark peer: the DataFrame pipeline a Spark user writes for "users who did this also
did that", with no cost control (no downsampling, no broadcast hints, no salting).

distinct (user, item) -> self-join on user -> count pairs -> top-50 per item by a window ->
join back to each user's items and sum the counts -> anti-join what the user has seen ->
top-10 per user by a window -> Parquet.

    python pyspark_plain.py EVENTS_FILE OUT_DIR [--master local[2]] [--conf k=v ...]

EVENTS_FILE is the CSV (with header) or Parquet log shopscale reads. Prints its stage timings and
row count as one JSON line, like the other peers. Spark is lazy: "pairs" is the first action
(the top-50 table is cached and counted), "recommend" the rest up to the written output.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as sf

K = 50  # neighbours kept per item
N = 10  # list length


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("events", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--conf", action="append", default=[], help="k=v, passed to Spark")
    return p.parse_args()


def session(master: str, conf: list[str]) -> Any:
    """A SparkSession with the settings a user would pass on the command line."""
    builder = SparkSession.builder.master(master).appName("pyspark-plain")
    builder = builder.config("spark.ui.enabled", "false")
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    for item in conf:
        key, _, value = item.partition("=")
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def read_log(spark: Any, path: Path) -> Any:
    """The (user_id, item_id) columns of the log as strings."""
    if path.suffix.lower() in (".parquet", ".pq"):
        df = spark.read.parquet(str(path))
    else:
        df = spark.read.option("header", "true").csv(str(path))
    return df.selectExpr("cast(user_id as string) user_id", "cast(item_id as string) item_id")


def similar_items(seen: Any) -> Any:
    """(item, other, cooc): co-occurrence counts over users, top-``K`` per item."""
    a = seen.select("user_id", sf.col("item_id").alias("i"))
    b = seen.select("user_id", sf.col("item_id").alias("j"))
    pairs = a.join(b, "user_id").where(sf.col("i") != sf.col("j"))
    counts = pairs.groupBy("i", "j").agg(sf.count("*").alias("cooc"))
    order = Window.partitionBy("i").orderBy(sf.col("cooc").desc(), sf.col("j"))
    top = counts.withColumn("r", sf.row_number().over(order)).where(sf.col("r") <= K)
    return top.drop("r")


def top_n(seen: Any, sims: Any) -> Any:
    """(user_id, rank, item_id, score): summed counts of the user's items' neighbours, unseen."""
    history = seen.select("user_id", sf.col("item_id").alias("i"))
    neighbours = sims.select("i", sf.col("j").alias("item_id"), "cooc")
    scores = history.join(neighbours, "i").groupBy("user_id", "item_id")
    scores = scores.agg(sf.sum("cooc").cast("double").alias("score"))
    unseen = scores.join(seen, ["user_id", "item_id"], "left_anti")
    order = Window.partitionBy("user_id").orderBy(sf.col("score").desc(), sf.col("item_id"))
    ranked = unseen.withColumn("rank", sf.row_number().over(order)).where(sf.col("rank") <= N)
    return ranked.select("user_id", "rank", "item_id", "score")


def main() -> None:
    """Read, recommend, write Parquet; print the stage timings as JSON."""
    args = parse_args()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    spark = session(args.master, args.conf)
    timings["session"] = round(time.perf_counter() - start, 3)
    seen = read_log(spark, args.events).distinct()
    t = time.perf_counter()
    sims = similar_items(seen).cache()
    n_sims = sims.count()
    timings["pairs"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    top_n(seen, sims).write.mode("overwrite").parquet(str(args.out / "recommendations.parquet"))
    timings["recommend"] = round(time.perf_counter() - t, 3)
    rows = spark.read.parquet(str(args.out / "recommendations.parquet")).count()
    spark.stop()
    print(json.dumps({"stages": timings, "rows": rows, "similar_pairs": n_sims}))


if __name__ == "__main__":
    main()
