"""Quality benchmark: shopscale and the usual baselines on eight real logs, one table.

Each data set is imported with ``shopscale.importers`` (the product's ``shopscale import``),
split, every model is tuned on the validation split with the same budget, then tested:

| data set | folder in ../shared/data | split | primary action |
|---|---|---|---|
| retailrocket | retailrocket-caserec-subset | holdout:0.2 (no timestamps) | purchased |
| taobao | taobao-userbehavior-sample | time:0.9 | purchased |
| ml-100k | movielens-100k | time:0.9 | purchased (rating >= 4) |
| ml-latest-small | movielens-latest-small | time:0.9 | purchased (rating >= 4) |
| bookcrossing | bookcrossing-caserec-subset | holdout:0.2 (no timestamps) | rated |
| lastfm | lastfm-hetrec2011-2k | holdout:0.2 (listens have no time) | listened |
| diginetica | diginetica | holdout:0.2 (times are days; an order's items share one) | purchased |
| yoochoose | yoochoose-sample | leave-last-out (sessions are the users) | clicked |

Why these splits and primary actions: docs/data.md. The last four were never used to choose
a setting.

Prints data set x task x model x metric@10 plus seconds, then shopscale minus the best
baseline per data set, task and metric with a 95 % paired bootstrap interval, and writes
every number to ``benchmarks/results/quality-<date>.json``.

    python benchmarks/quality.py                      # all eight logs, every model, budget 4
    python benchmarks/quality.py --datasets retailrocket --models popularity,own-history,shopscale
    python benchmarks/quality.py --datasets taobao,ml-100k,ml-latest-small --split leave-last-out
    python benchmarks/quality.py --summarize benchmarks/results/quality-2026-12-01*.json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from shopscale.evaluate.catalogue import MODELS, resolve_models
from shopscale.evaluate.data import Interactions, load_events
from shopscale.evaluate.report import (
    NOT_BASELINES,
    PROTOTYPES,
    compare_with_best,
    signed,
    verdict,
)
from shopscale.evaluate.run import EvaluateParams, evaluate
from shopscale.evaluate.split import parse_split
from shopscale.importers import import_dataset, write_events

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
DATASETS = {  # name: (importer, folder, split, primary action)
    "retailrocket": (
        "retailrocket-caserec",
        "retailrocket-caserec-subset",
        "holdout:0.2",
        "purchased",
    ),
    "taobao": ("taobao", "taobao-userbehavior-sample", "time:0.9", "purchased"),
    "ml-100k": ("movielens-100k", "movielens-100k", "time:0.9", "purchased"),
    "ml-latest-small": (
        "movielens-latest-small",
        "movielens-latest-small",
        "time:0.9",
        "purchased",
    ),
    "bookcrossing": ("bookcrossing-caserec", "bookcrossing-caserec-subset", "holdout:0.2", "rated"),
    "lastfm": ("lastfm-hetrec2011", "lastfm-hetrec2011-2k", "holdout:0.2", "listened"),
    "diginetica": ("diginetica", "diginetica", "holdout:0.2", "purchased"),
    "yoochoose": ("yoochoose", "yoochoose-sample", "leave-last-out", "clicked"),
}
COLUMNS = ("ndcg@10", "recall@10", "precision@10", "map@10", "hit_rate@10", "coverage@10")


def load_dataset(name: str, data_dir: Path) -> Interactions:
    """Import one data set with ``shopscale.importers`` and read it back as users read it."""
    importer, folder, _, _ = DATASETS[name]
    table = import_dataset(importer, data_dir / folder)
    with tempfile.TemporaryDirectory() as tmp:
        suffix = "parquet" if "timestamp" in table.column_names else "csv"
        path = Path(tmp) / f"{name}.{suffix}"
        write_events(table, path)
        return load_events(path)


def run_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Import, split, tune and test every model on one data set."""
    split = args.split or DATASETS[name][2]
    data = load_dataset(name, args.data_dir)
    params = EvaluateParams(
        split=parse_split(split, seed=args.seed),
        k=(10, 20),
        models=tuple(resolve_models(args.models)),
        budget=args.budget,
        primary=DATASETS[name][3],
    )
    print(f"== {name}: {len(data):,} events, split {split}, primary {params.primary}", flush=True)
    return evaluate(data, params, progress=lambda msg: print(f"   {msg}", flush=True))


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """One Markdown table: data set x task x model x metric@10, model share, seconds."""
    head = ["data set", "task", "test users", "model", *COLUMNS, "model share", "s"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if n < 4 else "---:" for n in range(len(head))) + "|")
    for ds, result in results.items():
        for task in result["params"]["tasks"]:
            users = result["data"]["test_users"][task]
            for model, entry in result["models"].items():
                v = entry["tasks"][task]
                cells = [f"{v[c]:.3f}" for c in COLUMNS]
                print(
                    f"| {ds} | {task} | {users:,} | {model} | "
                    + " | ".join(cells)
                    + f" | {v['model_share']:.2f} | {entry['seconds']:.1f} |"
                )


def print_comparisons(results: dict[str, dict[str, Any]]) -> None:
    """shopscale minus the best baseline per data set, task and metric, with 95 % intervals."""
    head = ("data set", "task", "metric", "best baseline", "shopscale − best", "95 % interval")
    print("\n| " + " | ".join((*head, "verdict")) + " |")
    print("|---|---|---|---|---:|---|---|")
    for ds, result in results.items():
        for task in result["params"]["tasks"]:
            for metric in ("ndcg@10", "recall@10"):
                cmp = compare_with_best(result, task, metric)
                if cmp is None:
                    continue
                gain = signed(cmp["difference"], 3)
                print(
                    f"| {ds} | {task} | {metric} | {cmp['baseline']} | {gain} "
                    f"| {signed(cmp['low'], 3)} … {signed(cmp['high'], 3)} | {verdict(cmp)} |"
                )


PURCHASE_LOGS = ("retailrocket", "taobao", "diginetica")
"""Logs whose primary action is a purchase: the target is to beat every baseline there; on
the others (ratings >= 4, listens, clicks) to be within 5 % of the best."""


def seed_runs(paths: list[Path]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per data set and split, one result per seed, seed order, from the JSONs of ``paths``;
    runs of other models on the same data set, split and seed are merged into one result."""
    merged: dict[tuple[str, str, int], dict[str, Any]] = {}
    for path in paths:
        for ds, result in json.loads(path.read_text())["results"].items():
            split = result["params"]["split"]
            key = (ds, split["label"], int(split["seed"]))
            if key in merged:
                merged[key]["models"].update(result["models"])
            else:
                merged[key] = result
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for key in sorted(merged, key=lambda k: (list(DATASETS).index(k[0]), k[1], k[2])):
        runs.setdefault(key[:2], []).append(merged[key])
    return runs


def seed_row(ds: str, task: str, results: list[dict[str, Any]], model: str = "shopscale") -> str:
    """One summary row: ``model`` and the best baseline over the seeds, and the verdict."""
    if not all(model in r["models"] for r in results):
        return ""
    cmps = [compare_with_best(r, task, "ndcg@10", model=model) for r in results]
    cmps = [c for c in cmps if c is not None]
    if not cmps:
        return ""
    mine = sum(r["models"][model]["tasks"][task]["ndcg@10"] for r in results) / len(results)
    names = [  # baselines run in every seed (a seed may have run fewer models)
        n
        for n in results[0]["models"]
        if n not in NOT_BASELINES and all(n in r["models"] for r in results)
    ]
    best = {
        n: sum(r["models"][n]["tasks"][task]["ndcg@10"] for r in results) / len(results)
        for n in names
    }
    top = max(sorted(best), key=lambda n: best[n])
    higher = sum(c["difference"] > 0 for c in cmps)
    ahead = sum(c["low"] > 0 for c in cmps)
    behind = sum(c["high"] < 0 for c in cmps)
    intervals = "; ".join(f"{signed(c['low'], 3)} … {signed(c['high'], 3)}" for c in cmps)
    if ds in PURCHASE_LOGS and task == "next-purchase":
        met = "met" if higher == len(cmps) and behind == 0 else "**not met**"
        goal = "beat every baseline"
    else:
        met = "met" if mine >= 0.95 * best[top] else "**not met**"
        goal = "within 5 % of best"
    seeds = ",".join(str(r["params"]["split"]["seed"]) for r in results)
    users = "/".join(sorted({str(r["data"]["test_users"][task]) for r in results}))
    return (
        f"| {ds} | {task} | {results[0]['params']['split']['label']} | {seeds} | {users} "
        f"| {mine:.3f} | {top} {best[top]:.3f} | {higher}/{len(cmps)} | {ahead}/{behind} "
        f"| {intervals} | {goal}: {met} |"
    )


def print_means(runs: dict[tuple[str, str], list[dict[str, Any]]], task: str) -> None:
    """Data set x model: NDCG@10 on ``task``, mean over the seeds run ("–" = not run)."""
    models = [m for m in MODELS if any(m in r["models"] for rs in runs.values() for r in rs)]
    models = [m for m in models if m not in PROTOTYPES]
    print(f"\n{task}, NDCG@10 (mean over seeds)\n")
    print("| data set | split | seeds | " + " | ".join(models) + " |")
    print("|---|---|---:|" + "---:|" * len(models))
    for (ds, label), results in runs.items():
        cells = []
        for m in models:
            got = [r["models"][m]["tasks"][task]["ndcg@10"] for r in results if m in r["models"]]
            cells.append(f"{sum(got) / len(got):.3f}" if len(got) == len(results) else "–")
        best = max((float(c) for c in cells if c != "–"), default=0.0)
        cells = [f"**{c}**" if c != "–" and float(c) == best else c for c in cells]
        print(f"| {ds} | {label} | {len(results)} | " + " | ".join(cells) + " |")


def print_summary(paths: list[Path]) -> None:
    """Across seeds: shopscale (its defaults; tuned, and the next candidate, where run) vs the
    best baseline of each seed, NDCG@10, and the target; then the means of every model."""
    runs = seed_runs(paths)
    for model in ("shopscale", "shopscale-tuned", "shopscale-repeats"):
        rows = [
            seed_row(ds, task, results, model)
            for (ds, _), results in runs.items()
            for task in results[0]["params"]["tasks"]
        ]
        if not any(rows):
            continue
        head = (
            "data set",
            "task",
            "split",
            "seeds",
            "test users",
            f"{model} (mean)",
            "best baseline (mean)",
            "seeds higher",
            "seeds ahead / behind at 95 %",
            "95 % paired intervals vs that seed's best baseline",
            "target",
        )
        print(f"\n{model} vs the best baseline\n")
        print("| " + " | ".join(head) + " |")
        print("|---|---|---|---|---:|---:|---|---:|---:|---|---|")
        print("\n".join(row for row in rows if row))
    for task in ("next-purchase", "discovery"):
        print_means(runs, task)


def main() -> None:
    """Parse options, run every data set, print the table, save the JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma list of data sets")
    ap.add_argument("--models", default="all", help="comma list of models or aliases")
    ap.add_argument("--budget", type=int, default=4, help="configurations tuned per model")
    ap.add_argument(
        "--seed",
        type=int,
        default=42,
        help="seed of the holdout split and of tuning; a seed other than 42 tags the JSON",
    )
    ap.add_argument(
        "--split",
        help="one split for every data set instead of the table above, e.g. leave-last-out "
        "(a test user per user with a primary event: larger test sets than time:0.9)",
    )
    ap.add_argument("--data-dir", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON")
    ap.add_argument(
        "--summarize",
        nargs="+",
        type=Path,
        help="print the across-seeds table of these result JSONs (one per seed) and stop",
    )
    args = ap.parse_args()
    if args.summarize:
        print_summary(args.summarize)
        return
    unknown = [d for d in args.datasets.split(",") if d not in DATASETS]
    if unknown:
        ap.error(f"unknown data set(s) {', '.join(unknown)} (known: {', '.join(DATASETS)})")
    start = time.perf_counter()
    results = {name: run_dataset(name, args) for name in args.datasets.split(",")}
    print_table(results)
    print_comparisons(results)
    args.out.mkdir(parents=True, exist_ok=True)
    tag = f"-{args.split.replace(':', '')}" if args.split else ""
    tag += f"-seed{args.seed}" if args.seed != 42 else ""
    for name in ("datasets", "models"):  # a subset never overwrites the full run
        if getattr(args, name) != ap.get_default(name):
            tag += "-" + "+".join(getattr(args, name).split(","))
    path = args.out / f"quality-{time.strftime('%Y-%m-%d')}{tag}.json"
    doc = {
        "machine": platform.uname()._asdict(),
        "python": platform.python_version(),
        "seconds": round(time.perf_counter() - start, 1),
        "results": results,
    }
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"\n{time.perf_counter() - start:.0f} s; numbers in {path}")


if __name__ == "__main__":
    main()
