"""Recommendations, end to end: shopscale vs implicit's CosineRecommender vs plain SciPy.

For each log shape of ``shopscale generate`` (``--shape``), generates one synthetic log (cached
in ``--data-dir``), then runs each contender as its own subprocess, one after the other, from
reading the log to written top-10 lists. Wall time is measured around the child; peak memory is
the child's own ``ru_maxrss`` from ``os.wait4``; a child whose resident memory passes
``--rss-limit-gib`` is killed and reported as such. Prints a table per shape and writes
``benchmarks/results/recommend-<date>T<time>-<events>.json``.

    python benchmarks/recommend.py                      # 10M events, every shape and contender
    python benchmarks/recommend.py --shape bundles,longtail,catalog --events 10M
    python benchmarks/recommend.py --events 200k        # quick mode, seconds per shape
    python benchmarks/recommend.py --shape longtail --events 100000 --only implicit,scipy
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from shopscale.generate import SHAPES, GenerateParams, write_events

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
CONTENDERS = ("shopscale", "implicit", "scipy")
RSS_POLL_S = 0.2
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


def command(name: str, log: Path, out: Path, shopscale_args: list[str]) -> list[str]:
    """The child process for a contender; shopscale is the CLI next to this Python."""
    if name == "shopscale":
        exe = Path(sys.executable).with_name("shopscale")
        return [str(exe), "recommend", str(log), "--out", str(out), *shopscale_args]
    script = {"implicit": "implicit_cosine.py", "scipy": "scipy_cooc.py"}[name]
    return [sys.executable, str(PEERS / script), str(log), str(out)]


@dataclass
class Measured:
    """What one child process did: exit code, wall seconds, peak RSS, output, memory kill."""

    code: int
    wall_s: float
    peak_rss_mib: float
    stdout: str
    stderr: str
    over_limit: bool = False


def measure(cmd: list[str], log_dir: Path, rss_limit_mib: float | None = None) -> Measured:
    """Run ``cmd``; peak RSS is the child's ``ru_maxrss``; above ``rss_limit_mib`` it is killed."""
    with (log_dir / "stdout").open("w+b") as out, (log_dir / "stderr").open("w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        killed, done = threading.Event(), threading.Event()
        if rss_limit_mib:
            args = (proc.pid, os.pidfd_open(proc.pid), rss_limit_mib, killed, done)
            threading.Thread(target=_guard_rss, args=args, daemon=True).start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            proc.returncode,
            wall,
            usage.ru_maxrss / 1024,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            killed.is_set(),
        )


def _guard_rss(
    pid: int, pidfd: int, limit_mib: float, killed: threading.Event, done: threading.Event
) -> None:
    """Kill the child when its resident memory (``/proc/<pid>/status`` VmRSS) passes the limit.

    The kill goes through a pidfd, so it can never reach another process that reused the pid.
    """
    status = Path(f"/proc/{pid}/status")
    try:
        while not done.is_set():
            try:
                text = status.read_text()
            except OSError:  # gone (reaped)
                return
            rss_kib = next((int(x.split()[1]) for x in text.splitlines() if x[:6] == "VmRSS:"), 0)
            if rss_kib / 1024 > limit_mib:
                killed.set()
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                return
            time.sleep(RSS_POLL_S)
    except ProcessLookupError:  # exited between the read and the kill
        return
    finally:
        os.close(pidfd)


def failure(m: Measured, limit_mib: float | None) -> tuple[str, str]:
    """Status and reason of a failed child: out of memory (our limit or the OS), or its error."""
    if m.over_limit and limit_mib:
        return "out of memory", f"RSS passed the {limit_mib / 1024:.2f} GiB limit (killed)"
    text = m.stderr + m.stdout
    if m.code == -9 or "MemoryError" in text or "std::bad_alloc" in text:
        return "out of memory", f"exit {m.code}: the process ran out of memory"
    tail = "\n".join((m.stderr or m.stdout).strip().splitlines()[-8:])
    return "failed", f"exit {m.code}: {tail}"


def run_contender(
    name: str,
    log: Path,
    repeat: int,
    shopscale_args: list[str],
    rss_limit_mib: float | None = None,
) -> Run:
    """Run one contender ``repeat`` times in fresh output folders; keep the fastest."""
    run = Run(name)
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            out = Path(tmp) / "out"
            m = measure(command(name, log, out, shopscale_args), Path(tmp), rss_limit_mib)
            if m.code != 0:
                status, error = failure(m, rss_limit_mib)
                return Run(name, status=status, peak_rss_mib=round(m.peak_rss_mib, 1), error=error)
            if not run.walls_s or m.wall_s < min(run.walls_s):
                run.wall_s, run.rows = round(m.wall_s, 3), count_rows(out)
                run.stages = shopscale_stages(out) if name == "shopscale" else peer_stages(m.stdout)
            run.walls_s.append(round(m.wall_s, 3))
            run.peak_rss_mib = round(max(run.peak_rss_mib, m.peak_rss_mib), 1)
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


def ensure_data(
    data_dir: Path, params: GenerateParams, suffix: str = ".csv"
) -> tuple[Path, GenerateParams]:
    """Generate the log once per shape, size, seed and format; later runs reuse the file."""
    shape = "" if params.shape == "bundles" else f"{params.shape}-"  # bundles: the old names
    name = f"{shape}events-{params.events}-{params.n_users}u-{params.n_items}i-seed{params.seed}"
    path = data_dir / f"{name}{suffix}"
    if not path.exists():
        console.print(f"generating {path} ...")
        start = time.perf_counter()
        write_events(params, path, fmt="parquet" if suffix == ".parquet" else "csv")
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


def show(runs: list[Run], rel: dict[str, dict[str, float]], title: str) -> None:
    """Print the results table."""
    table = Table(title=f"{title}: recommendations, end to end (read the log -> written top-10)")
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
            f"{r.peak_rss_mib:,.0f}",
            f"{r.rows:,}",
            ", ".join(f"{k} {v:.1f}" for k, v in r.stages.items()),
            f"{ratio['time_x']:.2f}x time, {ratio['memory_x']:.2f}x mem" if ratio else "",
        )
    console.print(table)
    for r in runs:
        if r.status != "ok":
            console.print(f"[red]{r.name}: {r.status}[/]\n{r.error}", highlight=False)


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
    p.add_argument("--events", type=parse_count, default=10_000_000, help="such as 10M, 200k")
    p.add_argument("--shape", default=",".join(SHAPES), help="comma list of log shapes")
    p.add_argument("--users", type=int, default=None, help="default: the shape's (bundles: /20)")
    p.add_argument("--items", type=int, default=None, help="default: the shape's (bundles: /100)")
    p.add_argument("--only", default=",".join(CONTENDERS), help="comma list of contenders")
    p.add_argument("--repeat", type=int, default=1, help="runs per contender; the best counts")
    p.add_argument("--data-dir", type=Path, default=HERE / ".data")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument(
        "--shopscale-args", default="", help="extra flags for `shopscale recommend`, one string"
    )
    p.add_argument(
        "--rss-limit-gib",
        type=float,
        default=default_rss_limit_gib(),
        help="kill a contender above this resident memory and report it (default: 85%% of RAM)",
    )
    args = p.parse_args(argv)
    for flag, chosen, known in (("--only", args.only, CONTENDERS), ("--shape", args.shape, SHAPES)):
        unknown = set(chosen.split(",")) - set(known)
        if unknown:
            p.error(f"{flag}: unknown {sorted(unknown)}; choose from {', '.join(known)}")
    return args


def parse_count(text: str) -> int:
    """A count such as ``10000000``, ``10M``, ``200k`` or ``1e8``."""
    text = text.strip().replace("_", "").replace(",", "")
    scale = {"k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9}.get(text[-1:].lower(), 1)
    number = text[:-1] if scale > 1 else text
    try:
        value = float(number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a count: {text!r} (examples: 10M, 200k)") from None
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"not a positive whole count: {text!r}")
    return int(value)


def stage_table(title: str, rows: list[tuple[str, dict[str, float], float]]) -> Table:
    """Seconds per shopscale stage (from its summary.json), one row per run, with the
    process overhead (start-up, imports, publishing) as wall minus the stages."""
    stages = list(dict.fromkeys(k for _, seconds, _ in rows for k in seconds))
    table = Table(title=title)
    for col in ("run", *stages, "other", "wall s"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, seconds, wall in rows:
        other = wall - sum(seconds.values())
        cells = [f"{seconds[k]:.1f}" if k in seconds else "" for k in stages]
        table.add_row(name, *cells, f"{other:.1f}", f"{wall:.1f}")
    return table


def default_rss_limit_gib() -> float:
    """85 % of physical memory: a contender that needs more is reported, not left to swap."""
    return round(0.85 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)


def run_shape(args: argparse.Namespace, shape: str) -> dict[str, object]:
    """Generate (or reuse) one shape's log, run the contenders one by one, show and return."""
    params = GenerateParams(
        events=args.events, users=args.users, items=args.items, seed=42, shape=shape
    )
    log, params = ensure_data(args.data_dir, params)
    runs = []
    for name in [c for c in CONTENDERS if c in args.only.split(",")]:
        console.print(f"{shape}: running {name} ...")
        limit = args.rss_limit_gib * 1024 if args.rss_limit_gib else None
        runs.append(run_contender(name, log, args.repeat, args.shopscale_args.split(), limit))
    rel = ratios(runs)
    show(runs, rel, f"{shape}, {params.events:,} events")
    done = [(r.name, r.stages, r.wall_s) for r in runs if r.name == "shopscale" and r.stages]
    if done:
        console.print(stage_table(f"{shape}, {params.events:,} events: shopscale stages (s)", done))
    data = {
        "shape": shape,
        "events": params.events,
        "users": params.n_users,
        "items": params.n_items,
        "seed": params.seed,
        "csv_bytes": log.stat().st_size,
    }
    return {"data": data, "runs": [asdict(r) for r in runs], "ratios_vs_shopscale": rel}


def main(argv: list[str] | None = None) -> None:
    """For each shape: generate (or reuse) the log, run the contenders, report; save JSON."""
    args = parse_args(argv)
    shapes = {shape: run_shape(args, shape) for shape in args.shape.split(",")}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M")  # one file per run, never overwritten
    path = args.results_dir / f"recommend-{stamp}-{args.events}.json"
    report = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": sys.argv,
        "rss_limit_gib": args.rss_limit_gib,
        "shopscale_args": args.shopscale_args,
        "machine": machine(),
        "shapes": shapes,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"results in {path}")


if __name__ == "__main__":
    main()
