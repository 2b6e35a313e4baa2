"""Fold speed: ``update --no-lists`` of the newest events into a kept model, against
``recommend`` on all events, and whether both give the same indicators.

A log of ``--events`` events (``shopscale generate``, seed 42) is split by time: the oldest
``--events - --new`` events build the model, the newest ``--new`` are folded in. Each command
runs as its own subprocess on a synced disk (wall time, peak RSS of the child from the OS);
the similar-items tables of the fold and of the full run are compared row for row. The fold
and the full run alternate ``--repeat`` times (each fold from a copy of the same stored model);
the medians are compared, since this machine's speed drifts from run to run.

    python benchmarks/fold.py                                   # 11M events, 1M folded
    python benchmarks/fold.py --events 1100000 --new 100000     # smoke run

Writes ``benchmarks/results/fold-<date>T<time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
SHOPSCALE = [sys.executable, "-m", "shopscale"]


def timed_run(args: list[str]) -> dict[str, float]:
    """Run one command; its wall seconds and its own peak RSS (GiB) from the OS. The disk is
    synced first, so that no command pays for writing back the one before's output."""
    os.sync()
    time.sleep(1)
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(args)}")
    return {"wall_s": round(wall, 2), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2)}


def split_log(log: Path, new: int, work: Path) -> tuple[Path, Path]:
    """The oldest events and the newest ``new`` events of ``log`` as two Parquet files."""
    old_part, new_part = work / "old.parquet", work / "new.parquet"
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE e AS SELECT *, row_number() OVER (ORDER BY timestamp, user_id, item_id, "
        f"action) AS k FROM read_parquet('{log}')"
    )
    total = con.execute("SELECT count(*) FROM e").fetchall()[0][0]
    cols = "user_id, action, item_id, timestamp"
    con.execute(f"COPY (SELECT {cols} FROM e WHERE k <= {total - new}) TO '{old_part}'")
    con.execute(f"COPY (SELECT {cols} FROM e WHERE k > {total - new}) TO '{new_part}'")
    return old_part, new_part


def median_run(runs: list[dict[str, float]]) -> dict[str, object]:
    """The run of median wall time (the machine's speed drifts run to run), with every
    run's wall time beside it."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return ordered[(len(ordered) - 1) // 2] | {"all_wall_s": [r["wall_s"] for r in runs]}


def same_table(a: Path, b: Path) -> bool:
    """Whether two Parquet files hold the same rows in the same order, values bit-equal."""
    return pq.read_table(a).equals(pq.read_table(b))


def main() -> None:
    """Build, fold, rebuild; print the times, the ratio and whether the indicators agree."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=11_000_000)
    ap.add_argument("--new", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=HERE / ".data" / "fold")
    ap.add_argument(
        "--repeat", type=int, default=3, help="folds and rebuilds, alternating; medians reported"
    )
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / f"events-{args.events}.parquet"
    if not log.exists():
        subprocess.run([*SHOPSCALE, "generate", "--events", str(args.events), "--out", str(log)])
    old_part, new_part = split_log(log, args.new, args.work)
    model, full = args.work / "model", args.work / "full"
    common = ["--db", "none", "--preview", "0"]
    base = timed_run([*SHOPSCALE, "recommend", str(old_part), "--out", str(model), *common])
    pristine = args.work / "model-pristine"
    shutil.rmtree(pristine, ignore_errors=True)
    shutil.copytree(model, pristine, symlinks=True)
    folds, rebuilds = [], []
    for k in range(args.repeat):  # alternate, so that a drift of the machine hits both
        if k:  # each fold starts from the same stored model
            shutil.rmtree(model)
            shutil.copytree(pristine, model, symlinks=True)
            shutil.rmtree(full)
        folds.append(timed_run([*SHOPSCALE, "update", str(model), str(new_part), "--no-lists"]))
        rebuilds.append(
            timed_run(
                [*SHOPSCALE, "recommend", str(old_part), str(new_part), "--out", str(full), *common]
            )
        )
    shutil.rmtree(pristine)
    runs = {
        "recommend (old part)": base,
        "update --no-lists (new part)": median_run(folds),
        "recommend (all)": median_run(rebuilds),
    }
    stages = {
        "update": json.loads((model / "summary.json").read_text())["seconds"],
        "recommend (all)": json.loads((full / "summary.json").read_text())["seconds"],
    }
    ratio = runs["recommend (all)"]["wall_s"] / runs["update --no-lists (new part)"]["wall_s"]
    equal = same_table(model / "similar_items.parquet", full / "similar_items.parquet")
    for name, run in runs.items():
        every = run.get("all_wall_s")
        runs_s = f"   runs {', '.join(f'{w:.2f}' for w in every)} s" if every else ""
        line = f"{name:<30} {run['wall_s']:>8.2f} s   peak RSS {run['peak_rss_gib']:.2f} GiB"
        print(line + runs_s)
    for name, secs in stages.items():
        print(f"{name} stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in secs.items()))
    print(f"fold speed-up over recommend on all: {ratio:.2f}x; identical indicators: {equal}")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M")
    result = {"events": args.events, "new": args.new, "repeat": args.repeat, "runs": runs}
    result |= {"stages": stages}
    result |= {"speedup": ratio, "load_average_1m": os.getloadavg()[0]}
    result |= {"identical_similar_items": equal, "cores": os.cpu_count()}
    out = HERE / "results" / f"fold-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
