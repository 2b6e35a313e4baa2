"""The command line on the Spark engine: flags, outputs as folders of parts, and reading them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from shopscale.store.sql import read_recommendations
from tests.strategies import write_events_csv

# every Spark test runs on one worker, one after the other (two JVMs at once starve 2 cores)
pytestmark = pytest.mark.xdist_group("spark")

EVENTS = [
    ("u1", "viewed", "i1", 1),
    ("u1", "purchased", "i2", 2),
    ("u2", "viewed", "i1", 3),
    ("u2", "purchased", "i2", 4),
    ("u3", "viewed", "i1", 5),
    ("u3", "purchased", "i3", 6),
    ("u4", "viewed", "i4", 7),  # i4 viewed -> i5 bought: a positively associated pair
    ("u4", "purchased", "i5", 8),
    ("u5", "viewed", "i4", 9),
    ("u5", "purchased", "i5", 10),
]


def _shopscale(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a real subprocess (the test's PYTHONPATH, so this source tree)."""
    return subprocess.run(
        [sys.executable, "-m", "shopscale", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=1500,
    )


@pytest.mark.spark
@pytest.mark.timeout(1800)  # a new JVM and Spark session per command: slow on a busy machine
def test_recommend_on_spark_then_show_and_similar(tmp_path: Path) -> None:
    """``recommend --engine spark --master --conf`` publishes folders of parts that ``show``,
    ``similar`` and the SQLite export read like the local engine's files."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    out = tmp_path / "out"
    done = _shopscale(
        "recommend", str(src), "--engine", "spark", "--master", "local[2]",
        "--conf", "spark.sql.shuffle.partitions=3", "--out", str(out), "--preview", "1",
        "--db", "sqlite",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (out / "recommendations.parquet").is_dir()
    shown = _shopscale("show", str(out), "--user", "u1")
    assert shown.returncode == 0, shown.stderr
    assert "i3" in shown.stdout
    first = ds.dataset(out / "similar_items.parquet").to_table().slice(0, 1).to_pylist()[0]
    similar = _shopscale("similar", str(out), "--item", str(first["item_id"]))
    assert similar.returncode == 0, similar.stderr
    assert str(first["similar_item_id"]) in similar.stdout
    rows = ds.dataset(out / "recommendations.parquet").to_table().to_pylist()
    assert read_recommendations(f"sqlite:///{out / 'shopscale.sqlite'}", "u1") == sorted(
        (r for r in rows if r["user_id"] == "u1"), key=lambda r: r["rank"]
    )


def test_spark_flags_need_the_spark_engine(tmp_path: Path) -> None:
    """``--master`` without ``--engine spark`` is a one-line error (exit 2), not ignored."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    done = _shopscale("recommend", str(src), "--master", "local[2]", "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert "--engine spark" in done.stderr
    assert "Traceback" not in done.stderr


def test_malformed_conf_is_a_one_line_error(tmp_path: Path) -> None:
    """A ``--conf`` without ``=`` is refused before Spark starts, with one line."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    done = _shopscale(
        "recommend", str(src), "--engine", "spark", "--conf", "oops", "--out", str(tmp_path / "o")
    )
    assert done.returncode == 2
    assert "KEY=VALUE" in done.stderr
    assert "Traceback" not in done.stderr
