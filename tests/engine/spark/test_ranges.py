"""Partitions as ordered ranges (users in encode, map and rank; items in the pair sums), and
the job on many small ranges: the same answer as the local engine, empty ranges included."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.engine.spark import frames
from shopscale.engine.spark import recommend as spark_recommend
from shopscale.recommend.params import RecommendParams
from tests.engine.conftest import SPARK_TIMEOUT_S
from tests.engine.test_conformance import check_spark_equals_local
from tests.strategies import event_logs

pytestmark = pytest.mark.xdist_group("spark")


@given(
    ids=st.lists(st.text(min_size=0, max_size=4), min_size=1, max_size=60),
    parts=st.integers(1, 12),
)
def test_range_bounds_are_sorted_distinct_sample_ids(ids: list[str], parts: int) -> None:
    """At most parts - 1 bounds, sorted in string (UTF-8 byte) order, each a sampled id."""
    weights = np.linspace(1.0, 3.0, len(ids))
    bounds = frames.range_bounds(pa.array(ids, pa.string()), weights, parts)
    assert len(bounds) <= parts - 1
    as_bytes = [b.encode() for b in bounds]
    assert as_bytes == sorted(set(as_bytes))
    assert set(bounds) <= set(ids)


def test_range_bounds_balance_the_weight() -> None:
    """Equal weights over 1,000 distinct ids cut into 4 ranges of about 250 ids each."""
    ids = pa.array([f"u{n:04d}" for n in range(1000)], pa.string())
    bounds = frames.range_bounds(ids, np.ones(1000), 4)
    assert len(bounds) == 3
    cuts = np.searchsorted(np.array(ids.to_pylist()), bounds)  # ids below each bound
    assert np.diff(np.r_[0, cuts, 1000]).tolist() in ([249, 250, 250, 251], [250, 250, 250, 250])


@pytest.mark.spark
def test_bucket_keys_put_each_bucket_in_its_partition(spark_session: object) -> None:
    """A row of bucket b lands in partition b after ``repartition(parts, "_k")``, for a
    prime, a power of two and a partition count larger than the default parallelism."""
    from pyspark.sql import functions as F  # noqa: N812

    for parts in (2, 7, 16):
        rows = spark_session.range(0, 5 * parts).select(  # type: ignore[attr-defined]
            (F.col("id") % parts).cast("int").alias("b")
        )
        keys = frames.bucket_keys(spark_session, parts)
        keyed = frames.in_key_order(rows, F.col("b"), keys)
        placed = keyed.repartition(parts, "_k").select("b", F.spark_partition_id().alias("p"))
        assert all(r["b"] == r["p"] for r in placed.collect())


@pytest.mark.spark
def test_range_bucket_counts_the_bounds_below(spark_session: object) -> None:
    """The bucket of a string is the number of bounds not above it (byte order)."""

    values = ["", "a", "b", "ba", "c", "z", "é"]
    df = spark_session.createDataFrame([(v,) for v in values], "v string")  # type: ignore[attr-defined]
    bounds = ["b", "c"]
    got = {
        r["v"]: r["k"]
        for r in df.select("v", frames.range_bucket("v", bounds).alias("k")).collect()
    }
    want = {v: sum(b.encode() <= v.encode() for b in bounds) for v in values}
    assert got == want


@pytest.mark.spark
@pytest.mark.timeout(SPARK_TIMEOUT_S)
def test_many_small_ranges_give_the_local_answer(
    spark_session: object, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a range of users per 3 events (many partitions, some empty), Spark writes the
    local engine's lists, similar items and model state, and leaves no scratch behind."""
    monkeypatch.setattr(spark_recommend, "EVENTS_PER_TASK", 3)

    @settings(max_examples=3, deadline=None)
    @given(events=event_logs(), keep=st.sampled_from([1, 2, 500]))
    def check(events: list[tuple[str, str, str, int]], keep: int) -> None:
        tmp = tmp_path_factory.mktemp("ranges")
        check_spark_equals_local(tmp, events, RecommendParams(max_items_per_user=keep))
        out = tmp / "spark"
        assert not out.exists() or not [p.name for p in out.iterdir() if "spark" in p.name]

    check()
