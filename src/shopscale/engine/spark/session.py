"""A Spark session for shopscale jobs; pyspark is imported only when Spark is chosen."""

from __future__ import annotations

import os
import sys
from typing import Any

from shopscale.errors import ShopscaleError


def get_spark(master: str = "local[2]", app_name: str = "shopscale") -> Any:
    """Return a (shared) ``SparkSession`` on ``master``; says what to install if missing."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ShopscaleError(
            "the spark engine needs pyspark: pip install 'shopscale[spark]'"
        ) from None
    # Executors must run the same interpreter (and so the same installed shopscale).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.python.worker.reuse", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark
