"""Recommendations, end to end: shopscale vs implicit's CosineRecommender vs plain SciPy.

Generates one synthetic log (cached in ``--data-dir``), then runs each contender as its own
subprocess, one after the other, from reading the CSV to written top-10 lists. Wall time is
measured around the child; peak memory is the child's own ``ru_maxrss`` from ``os.wait4``.
Prints a table and writes ``benchmarks/results/recommend-<date>T<time>-<events>.json``.

    python benchmarks/recommend.py                      # 10M events, every contender
    python benchmarks/recommend.py --events 200000      # quick mode, seconds
    python benchmarks/recommend.py --events 100000 --only implicit,scipy
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from shopscale.generate import GenerateParams, write_events

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
CONTENDERS = ("shopscale", "implicit", "scipy")
console = Console(width=None if sys.stdout.isatty() else 150)


@dataclass
class Run:
    """One contender's measured run (the best of ``--repeat``)."""

    name: str
    status: str = "ok"
    wall_s: float = 0.0
    peak_rss_mib: float = 0.0
    rows: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    walls_s: list[float] = field(default_factory=list)
    error: str = ""


def command(name: str, csv: Path, out: Path, shopscale_args: list[str]) -> list[str]:
    """The child process for a contender; shopscale is the CLI next to this Python."""
    if name == "shopscale":
        exe = Path(sys.executable).with_name("shopscale")
        return [str(exe), "recommend", str(csv), "--out", str(out), *shopscale_args]
    script = {"implicit": "implicit_cosine.py", "scipy": "scipy_cooc.py"}[name]
    return [sys.executable, str(PEERS / script), str(csv), str(out)]


def measure(cmd: list[str], log_dir: Path) -> tuple[int, float, float, str, str]:
    """Run ``cmd``; return exit code, wall seconds, peak RSS (MiB), stdout and stderr."""
    with (log_dir / "stdout").open("w+b") as out, (log_dir / "stderr").open("w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            proc.returncode,
            wall,
            usage.ru_maxrss / 1024,
            out.read().decode(),
            err.read().decode(),
        )


def run_contender(name: str, csv: Path, repeat: int, shopscale_args: list[str]) -> Run:
    """Run one contender ``repeat`` times in fresh output folders; keep the fastest."""
    run = Run(name)
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            out = Path(tmp) / "out"
            code, wall, rss, stdout, stderr = measure(
                command(name, csv, out, shopscale_args), Path(tmp)
            )
            if code != 0:
                tail = "\n".join((stderr or stdout).strip().splitlines()[-8:])
                return Run(name, status="failed", error=f"exit {code}: {tail}")
            if not run.walls_s or wall < min(run.walls_s):
                run.wall_s, run.rows = round(wall, 3), count_rows(out)
                run.stages = shopscale_stages(out) if name == "shopscale" else peer_stages(stdout)
            run.walls_s.append(round(wall, 3))
            run.peak_rss_mib = round(max(run.peak_rss_mib, rss), 1)
    return run


def count_rows(out: Path) -> int:
    """Rows of ``recommendations*.parquet`` under ``out`` (0 if none)."""
    files = sorted(out.rglob("recommendations*.parquet"))
    return sum(pq.ParquetFile(p).metadata.num_rows for p in files)


def shopscale_stages(out: Path) -> dict[str, float]:
    """Seconds per stage from shopscale's own ``summary.json`` (empty if it wrote none)."""
    summary = out / "summary.json"
    if not summary.is_file():
        return {}
    seconds: dict[str, float] = json.loads(summary.read_text()).get("seconds", {})
    return seconds


def peer_stages(stdout: str) -> dict[str, float]:
    """Stage timings a peer prints as its last JSON line."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            stages: dict[str, float] = json.loads(line).get("stages", {})
            return stages
    return {}


def ensure_data(args: argparse.Namespace) -> tuple[Path, GenerateParams]:
    """Generate the log once per size and seed; later runs reuse the cached file."""
    params = GenerateParams(events=args.events, users=args.users, items=args.items, seed=42)
    name = f"events-{params.events}-{params.n_users}u-{params.n_items}i-seed{params.seed}.csv"
    path = args.data_dir / name
    if not path.exists():
        console.print(f"generating {path} ...")
        start = time.perf_counter()
        write_events(params, path)
        console.print(f"generated in {time.perf_counter() - start:.1f} s")
    return path, params


def ratios(runs: list[Run]) -> dict[str, dict[str, float]]:
    """Each peer's wall time and peak memory divided by shopscale's (> 1: shopscale wins)."""
    base = next((r for r in runs if r.name == "shopscale" and r.status == "ok"), None)
    if base is None or base.wall_s <= 0:
        return {}
    return {
        r.name: {
            "time_x": round(r.wall_s / base.wall_s, 2),
            "memory_x": round(r.peak_rss_mib / base.peak_rss_mib, 2),
        }
        for r in runs
        if r.status == "ok" and r is not base
    }


def show(runs: list[Run], rel: dict[str, dict[str, float]]) -> None:
    """Print the results table."""
    table = Table(title="recommendations, end to end (read CSV -> written top-10)")
    for col in (
        "contender",
        "status",
        "wall s",
        "peak RSS MiB",
        "rows",
        "stages s",
        "vs shopscale",
    ):
        table.add_column(
            col, justify="left" if col in ("contender", "status", "stages s") else "right"
        )
    for r in runs:
        ratio = rel.get(r.name)
        table.add_row(
            r.name,
            r.status,
            f"{r.wall_s:.2f}" if r.status == "ok" else "-",
            f"{r.peak_rss_mib:,.0f}" if r.status == "ok" else "-",
            f"{r.rows:,}",
            ", ".join(f"{k} {v:.1f}" for k, v in r.stages.items()),
            f"{ratio['time_x']:.2f}x time, {ratio['memory_x']:.2f}x mem" if ratio else "",
        )
    console.print(table)
    for r in runs:
        if r.status != "ok":
            console.print(f"[red]{r.name} failed[/]:\n{r.error}", highlight=False)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, else the machine type."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def machine() -> dict[str, object]:
    """Hardware and versions, for the results file."""
    versions = {}
    for pkg in ("shopscale", "numpy", "scipy", "pyarrow", "duckdb", "numba", "implicit"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "missing"
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "versions": versions,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--users", type=int, default=None, help="default: events/20")
    p.add_argument("--items", type=int, default=None, help="default: events/100")
    p.add_argument("--only", default=",".join(CONTENDERS), help="comma list of contenders")
    p.add_argument("--repeat", type=int, default=1, help="runs per contender; the best counts")
    p.add_argument("--data-dir", type=Path, default=HERE / ".data")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument(
        "--shopscale-args", default="", help="extra flags for `shopscale recommend`, one string"
    )
    args = p.parse_args(argv)
    unknown = set(args.only.split(",")) - set(CONTENDERS)
    if unknown:
        p.error(f"unknown contenders {sorted(unknown)}; choose from {', '.join(CONTENDERS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Generate (or reuse) the log, run the contenders one by one, report."""
    args = parse_args(argv)
    csv, params = ensure_data(args)
    runs = []
    for name in [c for c in CONTENDERS if c in args.only.split(",")]:
        console.print(f"running {name} ...")
        runs.append(run_contender(name, csv, args.repeat, args.shopscale_args.split()))
    rel = ratios(runs)
    show(runs, rel)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M")  # one file per run, never overwritten
    path = args.results_dir / f"recommend-{stamp}-{params.events}.json"
    report = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "data": {
            "events": params.events,
            "users": params.n_users,
            "items": params.n_items,
            "seed": params.seed,
            "csv_bytes": csv.stat().st_size,
        },
        "machine": machine(),
        "runs": [asdict(r) for r in runs],
        "ratios_vs_shopscale": rel,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"results in {path}")


if __name__ == "__main__":
    main()
