"""A Spark session for shopscale jobs; pyspark is imported only when Spark is chosen."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from shopscale.errors import ConfigError, ShopscaleError

DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "2g",
    "spark.python.worker.reuse": "true",
    # Arrow carries every pandas batch between the JVM and the Python workers
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Adaptive execution sizes each shuffle's partitions from the data (64 MB each by
    # default) also below a persisted DataFrame; without this every shuffle of a cached
    # frame ran spark.sql.shuffle.partitions (200) tasks: a 20,000-event job took 159 s
    # in local[2] instead of 50 s, and a standalone cluster far longer
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "true",
}
"""Settings a ``--conf`` of the same key overrides."""


def parse_conf(pairs: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` (the ``--conf`` flags) as a dict; a pair without ``=`` is an error."""
    conf: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError("--conf", "conf", f"expected KEY=VALUE, got {pair!r}")
        conf[key.strip()] = value.strip()
    return conf


def get_spark(
    master: str = "local[2]", app_name: str = "shopscale", conf: Mapping[str, str] | None = None
) -> Any:
    """Return a (shared) ``SparkSession`` on ``master`` with ``conf`` over shopscale's
    defaults; says what to install if pyspark is missing."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ShopscaleError(
            "the spark engine needs pyspark: pip install 'shopscale[spark]'"
        ) from None
    # Executors must run the same interpreter (and so the same installed shopscale).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**DEFAULTS, **(conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
