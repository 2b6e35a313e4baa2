"""Scaling: each contender end to end on growing logs of one shape, from CSV and from Parquet.

For every size in ``--events`` and every input format, the log of ``shopscale generate --shape``
is generated once (cached in ``--data-dir``) and each contender runs as its own subprocess, one
after the other (``recommend.py`` does the measuring): wall time, events per second, and peak
RSS from the OS (the child's ``ru_maxrss``). A contender killed above ``--rss-limit-gib``, or
that fails for memory, is reported as "out of memory" at that size, not dropped. "cost/event"
is the wall time per event relative to the smallest size of the same contender and format:
1.0 means the cost grows linearly with events, above 1 worse than linearly.

    python benchmarks/scale.py                                    # longtail, 10M, 30M, 100M
    python benchmarks/scale.py --events 10M,30M,100M --formats parquet,csv
    python benchmarks/scale.py --events 100k,200k                 # smoke run, seconds
    python benchmarks/scale.py --only shopscale --shopscale-args "--memory-limit 4GB"
    python benchmarks/scale.py --only shopscale --formats parquet --items 120481 --repeat 2
    python benchmarks/scale.py --replot benchmarks/results/scale-....json --plot docs/scaling.png

Prints the sizes table and a table of shopscale's seconds per stage; writes
``benchmarks/results/scale-<date>T<time>-<shape>.json`` and, with ``--plot``, a PNG: wall time
against events (log-log, one line per contender and input format) beside shopscale's stages.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.table import Table

from recommend import (
    CONTENDERS,
    HERE,
    Run,
    console,
    default_rss_limit_gib,
    ensure_data,
    machine,
    parse_count,
    run_contender,
    stage_table,
)
from shopscale.generate import SHAPES, GenerateParams

FORMATS = {"csv": ".csv", "parquet": ".parquet"}


@dataclass
class Point:
    """One contender at one size and input format."""

    events: int
    format: str
    run: Run
    events_per_s: float = 0.0
    cost_per_event_x: float | None = None  # wall/event over that of the smallest size


def measure_size(args: argparse.Namespace, events: int, fmt: str) -> list[Point]:
    """Generate (or reuse) the log of ``events`` in ``fmt``; run every chosen contender on it."""
    params = GenerateParams(events=events, seed=42, shape=args.shape, items=args.items)
    log, _ = ensure_data(args.data_dir, params, FORMATS[fmt])
    limit = args.rss_limit_gib * 1024 if args.rss_limit_gib else None
    points = []
    for name in [c for c in CONTENDERS if c in args.only.split(",")]:
        console.print(f"{events:,} events, {fmt}: running {name} ...")
        run = run_contender(name, log, args.repeat, args.shopscale_args.split(), limit)
        speed = events / run.wall_s if run.status == "ok" and run.wall_s > 0 else 0.0
        points.append(Point(events, fmt, run, round(speed)))
    return points


def add_growth(points: list[Point]) -> None:
    """Set each point's cost per event relative to the smallest size of its contender/format."""
    base: dict[tuple[str, str], Point] = {}
    for p in sorted(points, key=lambda p: p.events):
        if p.run.status != "ok":
            continue
        first = base.setdefault((p.run.name, p.format), p)
        p.cost_per_event_x = round((p.run.wall_s / p.events) / (first.run.wall_s / first.events), 2)


def show(points: list[Point], shape: str) -> None:
    """Print one row per size, format and contender."""
    table = Table(title=f"{shape}: end to end (read the log -> written top-10), by size")
    columns = ("events", "input", "contender", "status", "wall s", "events/s", "peak RSS MiB")
    for col in (*columns, "cost/event"):
        table.add_column(
            col, justify="left" if col in ("input", "contender", "status") else "right"
        )
    for p in points:
        ok = p.run.status == "ok"
        table.add_row(
            f"{p.events:,}",
            p.format,
            p.run.name,
            p.run.status,
            f"{p.run.wall_s:.1f}" if ok else "-",
            f"{p.events_per_s:,.0f}" if ok else "-",
            f"{p.run.peak_rss_mib:,.0f}",
            f"{p.cost_per_event_x:.2f}x" if p.cost_per_event_x is not None else "",
        )
    console.print(table)
    for p in points:
        if p.run.status != "ok":
            console.print(f"[red]{p.run.name} at {p.events:,} ({p.format})[/]: {p.run.error}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--shape", default="longtail", choices=SHAPES)
    p.add_argument("--events", default="10M,30M,100M", help="comma list of sizes (10M, 1e8, ...)")
    p.add_argument("--formats", default="csv,parquet", help="comma list: csv, parquet")
    p.add_argument("--only", default=",".join(CONTENDERS), help="comma list of contenders")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per size and format; the fastest counts (every wall time is in the JSON): "
        "this machine's speed drifts by 20-40 %% over tens of minutes",
    )
    p.add_argument(
        "--items",
        type=int,
        default=None,
        help="hold the catalogue at this many items at every size (default: the shape's rule, "
        "which grows it with the events): separates growth in events from growth in items",
    )
    p.add_argument("--data-dir", type=Path, default=HERE / ".data")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument("--shopscale-args", default="", help="extra flags for `shopscale recommend`")
    p.add_argument(
        "--rss-limit-gib",
        type=float,
        default=default_rss_limit_gib(),
        help="kill a contender above this resident memory and report it (default: 85%% of RAM)",
    )
    p.add_argument("--plot", type=Path, default=None, help="also write this PNG (curves, stages)")
    p.add_argument(
        "--replot", type=Path, default=None, help="no runs: tables and --plot from a results JSON"
    )
    args = p.parse_args(argv)
    try:
        args.sizes = sorted(parse_count(x) for x in args.events.split(","))
    except argparse.ArgumentTypeError as err:
        p.error(f"--events: {err}")
    if args.repeat < 1:
        p.error(f"--repeat: at least 1, got {args.repeat}")
    try:
        GenerateParams(events=max(args.sizes), shape=args.shape, items=args.items)
    except ValueError as err:
        p.error(f"--items: {err}")
    for flag, chosen, known in (
        ("--only", args.only, CONTENDERS),
        ("--formats", args.formats, FORMATS),
    ):
        unknown = set(chosen.split(",")) - set(known)
        if unknown:
            p.error(f"{flag}: unknown {sorted(unknown)}; choose from {', '.join(known)}")
    return args


def show_stages(points: list[Point]) -> None:
    """Print shopscale's seconds per stage at every size and format."""
    rows = [
        (f"{p.events:,} {p.format}", p.run.stages, p.run.wall_s)
        for p in points
        if p.run.name == "shopscale" and p.run.status == "ok" and p.run.stages
    ]
    if rows:
        console.print(stage_table("shopscale: seconds per stage", rows))


def plot(points: list[Point], shape: str, path: Path) -> None:
    """Wall time against events for every contender and format (log-log, a dotted line of
    linear cost through each first point), and shopscale's stages as stacked bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for (name, fmt), line in _curves(points).items():
        xs, ys = [p.events for p in line], [p.run.wall_s for p in line]
        (drawn,) = left.plot(xs, ys, marker="o", label=f"{name} ({fmt})")
        left.plot(xs, [ys[0] * x / xs[0] for x in xs], ":", color=drawn.get_color(), lw=1)
    left.set(xscale="log", yscale="log", xlabel="events", ylabel="wall s (end to end)")
    left.set_title(f"{shape}: wall time by size (dotted: linear)")
    left.legend(fontsize=8)
    ours = [p for p in points if p.run.name == "shopscale" and p.run.status == "ok"]
    stages = list(dict.fromkeys(k for p in ours for k in p.run.stages))
    labels = [f"{p.events / 1e6:g}M\n{p.format}" for p in ours]
    bottom = [0.0] * len(ours)
    for stage in stages:
        heights = [p.run.stages.get(stage, 0.0) for p in ours]
        right.bar(labels, heights, bottom=bottom, label=stage)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    right.set(ylabel="seconds", title="shopscale: where the time goes")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    console.print(f"plot in {path}")


def _curves(points: list[Point]) -> dict[tuple[str, str], list[Point]]:
    """The successful points of each contender and format, by size."""
    curves: dict[tuple[str, str], list[Point]] = {}
    for p in sorted(points, key=lambda p: p.events):
        if p.run.status == "ok":
            curves.setdefault((p.run.name, p.format), []).append(p)
    return curves


def load_points(path: Path) -> tuple[str, list[Point]]:
    """The shape and points of a results JSON written by this script."""
    report = json.loads(path.read_text())
    points = [
        Point(d["events"], d["format"], Run(**d["run"]), d["events_per_s"], d["cost_per_event_x"])
        for d in report["points"]
    ]
    return report["shape"], points


def main(argv: list[str] | None = None) -> None:
    """Run every size and format, print the tables, save the JSON (and the plot)."""
    args = parse_args(argv)
    if args.replot:
        shape, points = load_points(args.replot)
        show(points, shape)
        show_stages(points)
        if args.plot:
            plot(points, shape, args.plot)
        return
    points = [
        point
        for events in args.sizes
        for fmt in args.formats.split(",")
        for point in measure_size(args, events, fmt)
    ]
    add_growth(points)
    show(points, args.shape)
    show_stages(points)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y-%m-%dT%H%M")
    fixed = f"-{args.items}i" if args.items else ""
    path = args.results_dir / f"scale-{stamp}-{args.shape}{fixed}.json"
    report = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": sys.argv,
        "shape": args.shape,
        "items": args.items,
        "shopscale_args": args.shopscale_args,
        "rss_limit_gib": args.rss_limit_gib,
        "machine": machine(),
        "points": [asdict(p) for p in points],
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"results in {path}")
    if args.plot:
        plot(points, args.shape, args.plot)


if __name__ == "__main__":
    main()
