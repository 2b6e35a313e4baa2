"""Benchmark: shopscale routes vs plain PyVRP on the whole instance, same wall-clock budget.

Each (instance, solver) runs in its own subprocess, so each one's peak memory is measured on
its own; shopscale (which uses every core) always runs alone. Plain PyVRP is single-threaded,
so ``--baseline-jobs 2`` runs two baselines at once, one core each. Gaps are to the
best-known solution (bks.csv next to the instances in ../shared/data).

    .venv/bin/python benchmarks/routing.py --instances X-n101-k25,Leuven1 --budget 60
    .venv/bin/python benchmarks/routing.py --instances Ghent1,Ghent2 --budget 600 \\
        --baseline-jobs 2 --out benchmarks/results/routing.jsonl
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
FOLDERS = ("cvrplib-x", "belgium", "gehring-homberger")
TOO_BIG_FOR_FULL_MATRIX = {"Flanders1", "Flanders2"}
DEFAULT = "X-n101-k25,X-n502-k39,X-n1001-k43,Leuven1,Leuven2,Antwerp1,Antwerp2,Ghent1,Ghent2"


def find_instance(name: str) -> tuple[Path, float]:
    """Path of ``name``.vrp and its best-known cost; fails clearly if the data is missing."""
    if not DATA.is_dir():
        sys.exit(f"real data not found at {DATA} (expected ../shared/data next to the repo)")
    for folder in FOLDERS:
        path = DATA / folder / f"{name}.vrp"
        if path.is_file():
            with (DATA / folder / "bks.csv").open() as fh:
                bks = {row["instance"]: float(row["bks_cost"]) for row in csv.DictReader(fh)}
            return path, bks[name]
    sys.exit(f"instance {name} not found under {DATA}/{{{','.join(FOLDERS)}}}")


def peak_rss_mib() -> float:
    """Peak resident memory of this process or any finished child, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def run_pyvrp(path: Path, budget: float, seed: int) -> dict[str, float]:
    """Plain PyVRP: read the whole instance (full matrix) and solve it for ``budget`` s."""
    import pyvrp
    from pyvrp.stop import MaxRuntime

    start = time.perf_counter()
    vrptw = "VRPTW" in path.read_text()[:300]
    data = pyvrp.read(path, round_func="dimacs" if vrptw else "round")
    left = max(1.0, budget - (time.perf_counter() - start))
    result = pyvrp.solve(data, stop=MaxRuntime(left), seed=seed, display=False)
    scale = 0.1 if vrptw else 1.0
    cost = result.cost() * scale if result.is_feasible() else float("inf")
    return {"cost": cost, "routes": result.best.num_routes(), "feasible": result.is_feasible()}


def run_shopscale(path: Path, budget: float, seed: int, size: int) -> dict[str, float]:
    """shopscale routes (local engine, 2 workers) with the same budget, checked."""
    from shopscale.routing.check import check_plan
    from shopscale.routing.params import RoutingParams
    from shopscale.routing.read_vrplib import read_vrplib
    from shopscale.routing.run import plan_routes

    start = time.perf_counter()
    problem = read_vrplib(path)
    left = max(1.0, budget - (time.perf_counter() - start))
    params = RoutingParams(time_limit_s=left, seed=seed, subproblem_size=size)
    plan = plan_routes(problem, params)
    report = check_plan(problem, plan)
    ok = report.ok and not plan.unserved
    cost = plan.cost * problem.cost_scale if ok else float("inf")
    return {"cost": cost, "routes": len(plan.routes), "feasible": ok}


def one(solver: str, name: str, budget: float, seed: int, size: int) -> None:
    """Child mode: run one solver on one instance and print one JSON line."""
    path, bks = find_instance(name)
    start = time.perf_counter()
    if solver == "pyvrp":
        res = run_pyvrp(path, budget, seed)
    else:
        res = run_shopscale(path, budget, seed, size)
    res.update(
        solver=solver,
        instance=name,
        bks=bks,
        gap_pct=100 * (res["cost"] - bks) / bks,
        wall_s=round(time.perf_counter() - start, 1),
        peak_rss_mib=round(peak_rss_mib()),
    )
    print(json.dumps(res))


def _child(args: argparse.Namespace, solver: str, name: str) -> list[str]:
    """The command line of one (solver, instance) child run."""
    cmd = [sys.executable, __file__, "--one", solver, name, "--budget", str(args.budget)]
    return [*cmd, "--seed", str(args.seed), "--subproblem-size", str(args.subproblem_size)]


def _collect(
    args: argparse.Namespace, solver: str, name: str, done: subprocess.CompletedProcess[str]
) -> None:
    """Print one table row for a finished child and append its JSON line to ``--out``."""
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode or not lines:
        print(f"| {name} | {solver} | failed: {done.stderr.strip()[-300:]} |", flush=True)
        return
    r = json.loads(lines[-1])
    r["budget_s"] = args.budget
    r["concurrent_baselines"] = args.baseline_jobs if solver == "pyvrp" else 1
    print(
        f"| {name} | {solver} | {args.budget:g} | {r['wall_s']} | {r['cost']:.1f} | "
        f"{r['bks']:g} | {r['gap_pct']:.2f} | {r['routes']} | {r['peak_rss_mib']} |",
        flush=True,
    )
    if args.out:  # written as each run ends, so a long protocol can be resumed
        with args.out.open("a") as fh:
            fh.write(json.dumps(r) + "\n")


def main() -> None:
    """Run every (instance, solver) pair and print a Markdown table.

    shopscale uses every core, so its runs are always alone. Plain PyVRP is single-threaded:
    with ``--baseline-jobs 2`` two baseline runs share the machine, one core each, which halves
    the protocol's wall time without taking CPU from either.
    """
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--instances", default=DEFAULT, help="comma-separated instance names")
    ap.add_argument("--budget", type=float, default=600.0, help="seconds per solver and instance")
    ap.add_argument("--solvers", default="pyvrp,shopscale")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subproblem-size", type=int, default=300)
    ap.add_argument("--baseline-jobs", type=int, default=1, help="plain PyVRP runs at once")
    ap.add_argument("--out", type=Path, default=None, help="also append JSON lines here")
    ap.add_argument("--one", nargs=2, metavar=("SOLVER", "INSTANCE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        one(args.one[0], args.one[1], args.budget, args.seed, args.subproblem_size)
        return
    names = args.instances.split(",")
    for name in names:
        find_instance(name)
    solvers = args.solvers.split(",")
    print(
        "| instance | solver | budget (s) | wall (s) | cost | BKS | gap % | routes | peak RSS MiB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    if "pyvrp" in solvers:
        baselines = [n for n in names if n not in TOO_BIG_FOR_FULL_MATRIX]
        for name in sorted(set(names) & TOO_BIG_FOR_FULL_MATRIX, key=names.index):
            print(f"| {name} | pyvrp | not run: full n x n matrices exceed 16 GiB |")
        for lo in range(0, len(baselines), args.baseline_jobs):
            batch = baselines[lo : lo + args.baseline_jobs]
            procs = [
                subprocess.Popen(
                    _child(args, "pyvrp", n),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for n in batch
            ]
            for name, proc in zip(batch, procs, strict=True):
                out, err = proc.communicate()
                _collect(
                    args, "pyvrp", name, subprocess.CompletedProcess([], proc.returncode, out, err)
                )
    for solver in (s for s in solvers if s != "pyvrp"):
        for name in names:
            done = subprocess.run(
                _child(args, solver, name), capture_output=True, text=True, check=False
            )
            _collect(args, solver, name, done)


if __name__ == "__main__":
    main()
