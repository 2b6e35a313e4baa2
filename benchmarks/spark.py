"""Recommendations on Spark: shopscale's Spark engine on local[2] and on a two-worker standalone
cluster, against the plain PySpark DataFrame pipeline (peers/pyspark_plain.py) and against
shopscale's local engine, all on one log.

Each contender runs as its own child process, one after the other, from reading the log to the
written top-10 lists. Wall time is measured around the child. Peak memory comes from the OS: every
``POLL_S`` the resident memory (``/proc/<pid>/status`` VmRSS) of the driver's process tree (the
child, its JVM and Python workers) and of the executors' trees (everything below the cluster's
worker daemons, the daemons themselves excluded) is summed; the largest sums are reported. On
``local[N]`` the executors live inside the driver JVM. The cluster is started once from the
pyspark installation (tests/engine/spark/cluster.py) and stopped at the end.

    nice -n 10 python benchmarks/spark.py                    # the 10M-event benchmark log
    nice -n 10 python benchmarks/spark.py --events 100000    # smoke run
    python benchmarks/spark.py --only plain-local,local --events 100000

Writes ``benchmarks/results/spark-<date>T<time>-<events>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import duckdb

from recommend import console, ensure_data, machine, peer_stages, shopscale_stages
from shopscale.generate import GenerateParams

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ of this checkout: the cluster launcher
from tests.engine.spark.cluster import ClusterSpec, StandaloneCluster, standalone_cluster  # noqa: E402

CONTENDERS = ("local", "spark-local", "spark-uri", "spark-cluster", "plain-local", "plain-cluster")
"""``spark-uri``: the Spark engine on ``local[2]`` publishing to a URI (a ``viewfs://`` mount
over a local folder: Spark's writer for every part, the read events kept in Spark instead of a
scratch folder), the way a YARN or Kubernetes run writes to ``hdfs://`` or ``s3a://``."""
DEFAULT = "local,spark-local,spark-cluster,plain-local"
POLL_S = 0.2


@dataclass
class Run:
    """One contender's measured run."""

    name: str
    command: list[str]
    status: str = "ok"
    wall_s: float = 0.0
    driver_peak_mib: float = 0.0
    executors_peak_mib: float = 0.0
    rows: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    same_as_local: bool | None = None
    error: str = ""


def children_map() -> dict[int, list[int]]:
    """Parent pid -> child pids of every process now (from /proc/<pid>/stat)."""
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree(roots: list[int], kids: dict[int, list[int]]) -> list[int]:
    """``roots`` and all their descendants."""
    out, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def rss_mib(pids: list[int]) -> float:
    """Summed resident memory of ``pids`` (processes that are gone count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(x.split()[1]) for x in f if x.startswith("VmRSS:")), 0)
        except OSError:
            continue
    return total / 1024


class PeakMemory:
    """Polls the driver's and the executors' process trees; keeps the largest sums."""

    def __init__(self, driver: int, workers: list[int]) -> None:
        self.driver, self.workers = driver, workers
        self.driver_mib = self.executors_mib = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.is_set():
            kids = children_map()
            self.driver_mib = max(self.driver_mib, rss_mib(tree([self.driver], kids)))
            executors = [p for p in tree(self.workers, kids) if p not in self.workers]
            self.executors_mib = max(self.executors_mib, rss_mib(executors))
            time.sleep(POLL_S)

    def stop(self) -> None:
        """Stop polling."""
        self._done.set()
        self._thread.join()


def wait_for_no_executors(workers: list[int], timeout_s: float = 60.0) -> None:
    """Wait until the previous application's executors are gone (they would count as this
    run's memory), at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while workers and time.monotonic() < deadline:
        if set(tree(workers, children_map())) <= set(workers):
            return
        time.sleep(POLL_S)


def command(name: str, log: Path, out: Path, master: str, args: argparse.Namespace) -> list[str]:
    """The child process of a contender."""
    if name.startswith("plain"):
        peer = HERE / "peers" / "pyspark_plain.py"
        return [sys.executable, str(peer), str(log), str(out), "--master", master]
    exe = str(Path(sys.executable).with_name("shopscale"))
    target = str(out)
    if name == "spark-uri":
        out.mkdir()
        target = "viewfs://bench/out"
    cmd = [exe, "recommend", str(log), "--out", target, "--db", "none", "--preview", "0"]
    if name != "local":
        cmd += ["--engine", "spark", "--master", master]
    if name == "spark-uri":
        cmd += ["--conf", f"spark.hadoop.fs.viewfs.mounttable.bench.link./out={out.as_uri()}"]
    return cmd + args.shopscale_args.split()


def result_folder(out: Path) -> Path:
    """Where a run's outputs are: ``out``, or the version its ``CURRENT`` names (a run that
    published to a URI)."""
    current = out / "CURRENT"
    return out / ".versions" / current.read_text().strip() if current.is_file() else out


def run_contender(
    name: str, cmd: list[str], env: dict[str, str], workers: list[int], out: Path
) -> Run:
    """Run ``cmd`` once; wall time, peak memory of driver and executors, its stage timings."""
    run = Run(name, cmd)
    logs = out.parent
    with (logs / f"{name}.out").open("w+b") as so, (logs / f"{name}.err").open("w+b") as se:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, stdin=subprocess.DEVNULL, env=env)
        peak = PeakMemory(proc.pid, workers)
        code = proc.wait()
        run.wall_s = round(time.perf_counter() - start, 3)
        peak.stop()
        run.driver_peak_mib = round(peak.driver_mib, 1)
        run.executors_peak_mib = round(peak.executors_mib, 1)
        so.seek(0)
        se.seek(0)
        stdout, stderr = so.read().decode(errors="replace"), se.read().decode(errors="replace")
    if code != 0:
        run.status = "failed"
        run.error = f"exit {code}: " + "\n".join((stderr or stdout).strip().splitlines()[-8:])
        return run
    out = result_folder(out)
    run.rows = count_rows(out)
    run.stages = peer_stages(stdout) if name.startswith("plain") else shopscale_stages(out)
    return run


def recommendations(out: Path) -> str:
    """A DuckDB ``read_parquet`` over ``out/recommendations.parquet``: one file (shopscale) or
    a folder of part files (Spark's writer); empty when there is neither."""
    target = out / "recommendations.parquet"
    files = sorted(target.glob("*.parquet")) if target.is_dir() else [target]
    names = [str(p) for p in files if p.is_file()]
    return f"read_parquet({names!r})" if names else ""


def count_rows(out: Path) -> int:
    """Rows of the written recommendations (0 if none)."""
    source = recommendations(out)
    if not source:
        return 0
    rows: int = duckdb.sql(f"select count(*) from {source}").fetchall()[0][0]
    return rows


def same_lists(out: Path, local: Path) -> bool:
    """Same (user, rank, item) rows as the local engine and scores equal to 1e-9 relative."""
    a, b = recommendations(out), recommendations(local)
    if not a or not b:
        return False
    sql = f"""
        select count(*) from {a} x full join {b} y using (user_id, rank, item_id)
        where x.score is null or y.score is null
           or abs(x.score - y.score) > 1e-9 * greatest(abs(x.score), abs(y.score))"""
    bad: int = duckdb.sql(sql).fetchall()[0][0]
    return bad == 0


def spark_env(root: Path, args: argparse.Namespace) -> dict[str, str]:
    """Driver environment: loopback, and a ``spark-defaults.conf`` every Spark driver reads."""
    conf = root / "driver-conf"
    conf.mkdir()
    defaults = {
        "spark.driver.memory": args.driver_memory,
        "spark.executor.memory": args.executor_memory,
        "spark.local.dir": str(root / "spark-local"),
        "spark.ui.showConsoleProgress": "false",
    }
    (conf / "spark-defaults.conf").write_text("".join(f"{k} {v}\n" for k, v in defaults.items()))
    return {**os.environ, "SPARK_CONF_DIR": str(conf), "SPARK_LOCAL_IP": "127.0.0.1"}


def ratios(runs: dict[str, Run]) -> dict[str, float]:
    """Wall-time ratios: plain PySpark over shopscale on Spark (> 1: shopscale wins), and
    shopscale on Spark over shopscale's local engine (the Spark engine's overhead)."""
    ok = {name: r.wall_s for name, r in runs.items() if r.status == "ok" and r.wall_s > 0}
    pairs = {
        "plain-local / spark-local": ("plain-local", "spark-local"),
        "plain-local / spark-cluster": ("plain-local", "spark-cluster"),
        "plain-cluster / spark-cluster": ("plain-cluster", "spark-cluster"),
        "spark-local / local": ("spark-local", "local"),
        "spark-uri / spark-local": ("spark-uri", "spark-local"),
        "spark-cluster / local": ("spark-cluster", "local"),
        "plain-local / local": ("plain-local", "local"),
    }
    return {k: round(ok[a] / ok[b], 2) for k, (a, b) in pairs.items() if a in ok and b in ok}


def show(runs: dict[str, Run], rel: dict[str, float], title: str) -> None:
    """Print the results table and the ratios."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("contender", "status", "wall s", "driver MiB", "executors MiB", "rows", "= local"):
        table.add_column(col, justify="left" if col in ("contender", "status") else "right")
    for r in runs.values():
        same = "-" if r.same_as_local is None else ("yes" if r.same_as_local else "NO")
        wall = f"{r.wall_s:.1f}" if r.status == "ok" else "-"
        mem = (f"{r.driver_peak_mib:,.0f}", f"{r.executors_peak_mib:,.0f}")
        table.add_row(r.name, r.status, wall, *mem, f"{r.rows:,}", same)
    console.print(table)
    for key, value in rel.items():
        console.print(f"{key}: {value:.2f}x")
    for r in runs.values():
        if r.status != "ok":
            console.print(f"[red]{r.name}: {r.status}[/]\n{r.error}", highlight=False)


@contextmanager
def maybe_cluster(
    root: Path, args: argparse.Namespace, chosen: list[str]
) -> Iterator[StandaloneCluster | None]:
    """The two-worker standalone cluster when a cluster contender is chosen, else ``None``."""
    if not any(name.endswith("cluster") for name in chosen):
        yield None
        return
    spec = ClusterSpec(
        workers=2, cores_per_worker=args.worker_cores, memory_per_worker=args.worker_memory
    )
    console.print("starting the standalone cluster (master + 2 workers) ...")
    with standalone_cluster(root / "cluster", spec) as cluster:
        console.print(f"cluster up at {cluster.url}")
        yield cluster


def run_all(args: argparse.Namespace, log: Path, root: Path) -> dict[str, Run]:
    """Run the chosen contenders one after the other; compare shopscale runs with local."""
    chosen = [c for c in CONTENDERS if c in args.only.split(",")]
    env = spark_env(root, args)
    runs: dict[str, Run] = {}
    with maybe_cluster(root, args, chosen) as cluster:
        workers = cluster.pids()[1:] if cluster else []
        for name in chosen:
            master = cluster.url if name.endswith("cluster") and cluster else args.local_master
            out = root / name / "out"
            out.parent.mkdir()
            console.print(f"running {name} ...")
            wait_for_no_executors(workers)
            runs[name] = run_contender(
                name, command(name, log, out, master, args), env, workers, out
            )
    local = runs.get("local")
    for name, r in runs.items():
        if name.startswith("spark") and r.status == "ok" and local and local.status == "ok":
            r.same_as_local = same_lists(result_folder(root / name / "out"), root / "local" / "out")
    return runs


def java_version() -> str:
    """The first line of ``java -version`` (what the Spark JVMs run on)."""
    try:
        done = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    except OSError:
        return "missing"
    return (done.stderr or done.stdout).strip().splitlines()[0]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument(
        "--shape", default="bundles", choices=("bundles", "longtail", "catalog"),
        help="the generated log's shape (shopscale generate --shape)",
    )  # fmt: skip
    p.add_argument("--only", default=DEFAULT, help=f"comma list of {', '.join(CONTENDERS)}")
    p.add_argument("--local-master", default="local[2]")
    p.add_argument("--worker-cores", type=int, default=1, help="cores per cluster worker")
    p.add_argument("--worker-memory", default="4g", help="memory per cluster worker")
    p.add_argument("--executor-memory", default="3g", help="spark.executor.memory (cluster)")
    p.add_argument("--driver-memory", default="4g", help="spark.driver.memory (a default)")
    p.add_argument("--data-dir", type=Path, default=HERE / ".data")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument("--shopscale-args", default="", help="extra `shopscale recommend` flags")
    args = p.parse_args(argv)
    unknown = set(args.only.split(",")) - set(CONTENDERS)
    if unknown:
        p.error(f"--only: unknown {sorted(unknown)}; choose from {', '.join(CONTENDERS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Generate (or reuse) the log, run the contenders, print the table, save JSON."""
    args = parse_args(argv)
    load_start = os.getloadavg()
    generated = GenerateParams(events=args.events, seed=42, shape=args.shape)
    log, params = ensure_data(args.data_dir, generated)
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-spark-")))
        runs = run_all(args, log, root)
    rel = ratios(runs)
    title = f"{params.events:,} {params.shape} events: recommendations on Spark, end to end"
    show(runs, rel, title)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M")
    shape = "" if args.shape == "bundles" else f"{args.shape}-"
    path = args.results_dir / f"spark-{stamp}-{shape}{args.events}.json"
    report = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": sys.argv,
        "data": {
            "events": params.events,
            "shape": params.shape,
            "users": params.n_users,
            "items": params.n_items,
            "log": str(log),
        },
        "spark_defaults": {k: getattr(args, k) for k in ("driver_memory", "executor_memory")},
        "cluster": {"workers": 2, "cores": args.worker_cores, "memory": args.worker_memory},
        "machine": {**machine(), "pyspark": metadata.version("pyspark"), "java": java_version()},
        "load_average": {"start": load_start, "end": os.getloadavg()},  # 1, 5, 15 min
        "runs": [asdict(r) for r in runs.values()],
        "ratios": rel,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"results in {path}")


if __name__ == "__main__":
    main()
