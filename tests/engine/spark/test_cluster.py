"""shopscale on a real Spark standalone cluster (a master and two workers on loopback): executors
in separate processes import shopscale, a routes plan passes the checker, and the
recommendation job gives the local engine's answer."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.engine.spark.cluster import (
    StandaloneCluster,
    driver_env,
    shopscale_path,
    shopscale_zip,
    spark_home,
    standalone_cluster,
)

pytestmark = [
    pytest.mark.xdist_group("spark"),  # every Spark test on one worker, one after the other
    pytest.mark.spark,
    pytest.mark.slow,
]

CLI_TIMEOUT_S = 540  # guards against a hang only; below pytest-timeout's 600 s per test
REL = 1e-9
ROUTING_DATA = Path(__file__).resolve().parents[2] / "routing" / "data"

PROBE = """
import json, os, sys
from pyspark.sql import SparkSession

def ancestry(_):
    import shopscale, shopscale.routing.solve
    chain, pid = [], os.getpid()
    while pid > 1:
        chain.append(pid)
        with open(f"/proc/{pid}/stat") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    return chain, os.path.dirname(os.path.dirname(shopscale.__file__))

spark = (
    SparkSession.builder.master(sys.argv[1])
    .config("spark.ui.enabled", "false")
    .config("spark.scheduler.minRegisteredResourcesRatio", "1.0")
    .config("spark.scheduler.maxRegisteredResourcesWaitingTime", "300s")
    .getOrCreate()
)
rows = spark.sparkContext.parallelize(range(8), 8).map(ancestry).collect()
spark.stop()
print(json.dumps(rows))
"""


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    """A master and two 1-core, 1 GiB workers; stopped (process groups killed) at the end."""
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as running:
        yield running


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m shopscale ...` as a driver on the loopback cluster."""
    cmd = [sys.executable, "-m", "shopscale", *map(str, args)]
    return subprocess.run(
        cmd, capture_output=True, text=True, env=driver_env(), timeout=CLI_TIMEOUT_S
    )


def test_executors_import_shopscale(cluster: StandaloneCluster) -> None:
    """Tasks run in both workers' executors (separate processes) and import this shopscale."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, cluster.url],
        capture_output=True,
        text=True,
        env=driver_env(),
        timeout=CLI_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert {path for _, path in rows} == {shopscale_path()}
    workers = set(cluster.pids()[1:])
    parents = set()  # (worker, executor): the ancestors of each task just below its worker
    for chain, _ in rows:
        at = next(k for k, pid in enumerate(chain) if pid in workers)
        parents.add((chain[at], chain[at - 1]))
    assert {w for w, _ in parents} == workers
    assert len({e for _, e in parents}) == 2


def _routes_args() -> list[str | Path]:
    """Inputs of `routes plan` and `routes check`: the small two-depot tables."""
    return [
        ROUTING_DATA / "orders.csv",
        "--fleet",
        ROUTING_DATA / "fleet.csv",
        "--depots",
        ROUTING_DATA / "depots.csv",
    ]


def assert_checked_plan(out: Path) -> None:
    """The plan in ``out`` was made on Spark, its summary says the checker passed, and
    `routes check` accepts it."""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine"] == "spark"
    assert summary["check"]["ok"], summary["check"]
    checked = _cli("routes", "check", out, *_routes_args())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "all constraints hold" in checked.stdout


def test_routes_plan_on_cluster_passes_checker(cluster: StandaloneCluster, tmp_path: Path) -> None:
    """`routes plan --engine spark --master spark://...` writes a plan the checker accepts."""
    out = tmp_path / "plan"
    args = ["--engine", "spark", "--master", cluster.url, "--time-limit", "5s", "--out", out]
    done = _cli("routes", "plan", *_routes_args(), *args)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert_checked_plan(out)


def test_spark_submit_form_on_cluster(cluster: StandaloneCluster, tmp_path: Path) -> None:
    """The documented `spark-submit --py-files shopscale.zip .../__main__.py routes plan ...`
    form plans on the cluster (the driver gets shopscale from the zip, not PYTHONPATH)."""
    zipped = shopscale_zip(tmp_path)
    main = zipped.parent / "__main__.py"  # the application file: shopscale/__main__.py
    main.write_bytes((Path(shopscale_path()) / "shopscale" / "__main__.py").read_bytes())
    out = tmp_path / "plan"
    submit = [str(spark_home() / "bin" / "spark-submit"), "--master", cluster.url]
    submit += ["--py-files", str(zipped), str(main)]
    args = ["--engine", "spark", "--master", cluster.url, "--time-limit", "5s", "--out", out]
    env = driver_env()
    env.pop("PYTHONPATH", None)
    cmd = [*submit, "routes", "plan", *map(str, _routes_args()), *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=CLI_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert_checked_plan(out)


def _rows(path: Path, keys: list[str]) -> list[dict[str, object]]:
    """The rows of a Parquet output in ``keys`` order."""
    rows = pq.read_table(path).to_pylist()
    return sorted(rows, key=lambda r: tuple(r[k] for k in keys))


def assert_same_output(spark: Path, local: Path, name: str, keys: list[str]) -> None:
    """Same rows and ranks in ``name``; scores equal to 1e-9 relative."""
    got, want = _rows(spark / name, keys), _rows(local / name, keys)
    assert len(got) == len(want) > 0
    for g, w in zip(got, want, strict=True):
        assert {k: v for k, v in g.items() if k != "score"} == {
            k: v for k, v in w.items() if k != "score"
        }
        assert math.isclose(g["score"], w["score"], rel_tol=REL), (g, w)


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20,000-event synthetic log (fixed seed)."""
    log = tmp_path_factory.mktemp("log") / "events.csv"
    done = _cli("generate", "--events", "20000", "--seed", "1", "--out", log)
    assert done.returncode == 0, done.stderr
    return log


@pytest.mark.parametrize("as_uri", [False, True], ids=["path", "file-uri"])
def test_recommend_on_cluster_matches_local(
    cluster: StandaloneCluster, small_log: Path, tmp_path: Path, as_uri: bool
) -> None:
    """`recommend --engine spark --master spark://...` writes the local engine's lists, the
    log given as a path (executors read it with the local reader) or as a URI (executors get
    its bytes through Hadoop's file system, as from ``hdfs://`` or ``s3a://``)."""
    common = ["--db", "none", "--preview", "0"]
    local = _cli("recommend", small_log, "--out", tmp_path / "local", *common)
    assert local.returncode == 0, local.stderr[-3000:]
    args = ["--engine", "spark", "--master", cluster.url, "--out", tmp_path / "spark", *common]
    spark = _cli("recommend", f"file://{small_log}" if as_uri else small_log, *args)
    assert spark.returncode == 0, spark.stdout[-2000:] + spark.stderr[-3000:]
    for name, keys in (
        ("recommendations.parquet", ["user_id", "rank"]),
        ("similar_items.parquet", ["item_id", "action", "rank"]),
    ):
        assert_same_output(tmp_path / "spark", tmp_path / "local", name, keys)
