"""Screen shopscale settings on validation splits only: every candidate against a reference
configuration, per data set, split, task and metric, with a 95 % paired bootstrap interval.

This is how defaults are chosen (docs/evaluation.md): the test splits of ``quality.py`` are
never looked at. Each data set is screened on the validation split carved from the training
events of its ``quality.py`` split and, where the log has timestamps, of leave-last-out too
(hundreds of users instead of tens). The job is run end to end (``shopscale recommend``'s
pipeline), exactly as ``shopscale tune`` runs it.

    python benchmarks/screen.py --candidates '{"llr vote": {"vote": "llr"}}'
    python benchmarks/screen.py --datasets retailrocket --seeds 42,43,44,45,46,47 \\
        --reference '{"vote": "llr"}' --candidates '{"geometric": {"vote": "geometric"}}'
    python benchmarks/screen.py --model own-history --candidates '{"tiers": {"weights": "tiers"}}'
    python benchmarks/screen.py --datasets taobao --split holdout:0.2 --seeds 42,43,44 \\
        --model shopscale-blend --candidates '{"count": {"repeats": "count"}}'

A mark after an interval: ``+`` the candidate is ahead (interval above 0), ``-`` behind
(interval below 0), nothing when the validation users cannot tell the two apart.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from quality import DATA, DATASETS, load_dataset
from shopscale.evaluate.catalogue import MODELS
from shopscale.evaluate.metrics import bootstrap_interval
from shopscale.evaluate.run import Prepared, fit_and_score, prepare
from shopscale.evaluate.split import parse_split, split_events, validation_split

TASKS = ("next-purchase", "discovery")
METRICS = ("ndcg@10", "recall@10")


def validation_sets(
    name: str, seeds: list[int], data_dir: Path, split: str | None = None
) -> list[tuple[str, int, Prepared]]:
    """(split, seed, prepared validation split) for every split screened on ``name``: its
    ``quality.py`` split and, with timestamps, leave-last-out; or only ``split`` when given."""
    _, _, default, primary = DATASETS[name]
    data = load_dataset(name, data_dir)
    if split is not None:
        splits = [split]
    else:
        splits = list(dict.fromkeys([default, "leave-last-out"])) if data.has_time else [default]
    out = []
    for rule in splits:
        for seed in seeds if rule.startswith("holdout") else [42]:
            params = parse_split(rule, seed=seed)
            val = validation_split(split_events(data, params, primary), params, primary)
            out.append((rule, seed, prepare(val, primary, TASKS)))
    return out


def compare(ref: dict[str, Any], cand: dict[str, Any]) -> list[tuple[float, float, float]]:
    """(mean difference, low, high) of candidate minus reference per task and metric."""
    cells = []
    for task in TASKS:
        for metric in METRICS:
            d = np.subtract(cand["per_user"][task][metric], ref["per_user"][task][metric])
            low, high = bootstrap_interval(d)
            cells.append((float(d.mean()) if d.size else 0.0, low, high))
    return cells


def mark(low: float, high: float) -> str:
    """'+' when the interval lies above 0, '-' below, '' when it contains 0."""
    return "+" if low > 0 else "-" if high < 0 else ""


def main() -> None:
    """Run the reference and every candidate on each validation split; print one table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma list of data sets")
    ap.add_argument(
        "--candidates", required=True, help='JSON {"label": {setting: value, ...}, ...}'
    )
    ap.add_argument("--reference", default="{}", help="JSON settings of the reference [defaults]")
    ap.add_argument(
        "--model",
        default="shopscale",
        choices=sorted(MODELS),
        help="catalogue model screened (default shopscale; own-history for its family's default)",
    )
    ap.add_argument("--seeds", default="42", help="holdout seeds (logs without timestamps)")
    ap.add_argument(
        "--split",
        help="screen only this split rule (e.g. holdout:0.2 on a log with timestamps) instead of "
        "the log's quality.py split and leave-last-out",
    )
    ap.add_argument("--data-dir", type=Path, default=DATA)
    ap.add_argument("--json", type=Path, help="also write every figure to this file")
    args = ap.parse_args()
    if not args.data_dir.is_dir():
        raise SystemExit(f"data folder {args.data_dir} not found: see benchmarks/README.md")
    candidates: dict[str, dict[str, Any]] = json.loads(args.candidates)
    spec = MODELS[args.model]
    reference: dict[str, Any] = {**spec.defaults, **json.loads(args.reference)}
    seeds = [int(s) for s in args.seeds.split(",")]
    head = [f"{t} {m}" for t in TASKS for m in METRICS]
    cols = "| data set | split | seed | users (next, disc.) | config | "
    print(cols + " | ".join(head) + " | s |")
    print("|---|---|---|---:|---|" + "---:|" * (len(head) + 1))
    doc: list[dict[str, Any]] = []
    for name in args.datasets.split(","):
        for rule, seed, val in validation_sets(name, seeds, args.data_dir, args.split):
            users = ", ".join(f"{val.tasks[t].truth.users.size:,}" for t in TASKS)
            ref = fit_and_score(spec, reference, val, (10,))
            row = [f"{ref['tasks'][t][m]:.4f}" for t in TASKS for m in METRICS]
            prefix = f"| {name} | {rule} | {seed} | {users} |"
            print(f"{prefix} reference | " + " | ".join(row) + f" | {ref['seconds']:.0f} |")
            for label, settings in candidates.items():
                got = fit_and_score(spec, {**reference, **settings}, val, (10,))
                cells = compare(ref, got)
                row = [f"{d:+.4f} [{lo:+.3f}, {hi:+.3f}]{mark(lo, hi)}" for d, lo, hi in cells]
                print(f"{prefix} {label} | " + " | ".join(row) + f" | {got['seconds']:.0f} |")
                doc.append(
                    {
                        "dataset": name,
                        "split": rule,
                        "seed": seed,
                        "candidate": label,
                        "reference": {
                            f"{t} {m}": ref["tasks"][t][m] for t in TASKS for m in METRICS
                        },
                        "candidate_scores": {
                            f"{t} {m}": got["tasks"][t][m] for t in TASKS for m in METRICS
                        },
                        "difference": dict(zip(head, cells, strict=True)),
                    }
                )
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
