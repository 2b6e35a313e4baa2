"""The ``engine`` fixture every conformance test runs on: the local engine and Spark in local
mode (one SparkSession for the whole test session: Spark starts slowly)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

SPARK_CONF = {
    # tiny logs: a few partitions (still more than one, so order-dependent code fails here)
    "spark.sql.shuffle.partitions": "3",
    "spark.default.parallelism": "2",
    "spark.sql.adaptive.enabled": "false",
}
EXAMPLES = {"local": 40, "spark": int(os.environ.get("SHOPSCALE_SPARK_EXAMPLES", "2"))}
"""Hypothesis examples per engine: a Spark run of the job takes about a minute on the 2-core
CI machine (about 25 small Spark jobs), so CI, under 30 minutes, runs a few; the derandomized
profile makes them the same few every run. ``SHOPSCALE_SPARK_EXAMPLES=N`` runs more."""
SPARK_TIMEOUT_S = 3600
"""Per-test limit of a Spark property (many Spark runs; pyproject's 600 s is per test)."""
FEW_EXAMPLES = {"local": 30, "spark": max(1, EXAMPLES["spark"] // 2)}
"""For properties the reference comparison covers already (list shape)."""


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """One local[2] SparkSession shared by every Spark test; stopped at the end."""
    from shopscale.engine.spark.session import get_spark

    spark = get_spark("local[2]", "shopscale-tests", SPARK_CONF)
    yield spark
    spark.stop()


@pytest.fixture(params=["local", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest) -> str:
    """The name of the engine under test (Spark's session is started once, on first use)."""
    if request.param == "spark":
        request.getfixturevalue("spark_session")
    return str(request.param)
