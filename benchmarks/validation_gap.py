"""Diagnosis, not tuning: why a setting that wins on Book-Crossing's validation split can lose on
its test split (docs/evaluation.md, "Why Book-Crossing's validation gains do not all reach its
test split"). Scores the default and Jaccard with 10 neighbours (decays off, as on this untimed
log) on the validation split of holdout:0.2, its test split, and a holdout:0.36 test split
whose users keep as few ratings as the validation users do. No setting is chosen from it.

    shopscale import bookcrossing-caserec ../shared/data/bookcrossing-caserec-subset \\
        --out bc.parquet
    python benchmarks/validation_gap.py bc.parquet --seeds 42,46
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from shopscale.evaluate.catalogue import MODELS
from shopscale.evaluate.data import load_events
from shopscale.evaluate.metrics import bootstrap_interval
from shopscale.evaluate.run import fit_and_score, prepare
from shopscale.evaluate.split import parse_split, split_events, validation_split
from shopscale.events import EventsParams

PLAIN = {"half_life_days": 0.0, "half_life_events": 0.0}
JACCARD = {**PLAIN, "similarity": "jaccard", "max_similar_per_item": 10}


def main() -> None:
    """Print, per seed and split, both configurations' NDCG@10 and the paired difference."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path, help="Book-Crossing as imported by shopscale import")
    ap.add_argument("--seeds", default="42,46")
    ap.add_argument("--primary", default="rated")
    args = ap.parse_args()
    data = load_events([str(args.log)], EventsParams())
    spec = MODELS["shopscale"]
    for seed in (int(s) for s in args.seeds.split(",")):
        for label, frac, val in (
            ("validation of holdout:0.2", 0.2, True),
            ("test of holdout:0.2", 0.2, False),
            ("test of holdout:0.36", 0.36, False),
        ):
            rule = parse_split(f"holdout:{frac}", seed=seed)
            split = split_events(data, rule, args.primary)
            if val:
                split = validation_split(split, rule, args.primary)
            prep = prepare(split, args.primary, ("next-purchase",))
            a = fit_and_score(spec, PLAIN, prep, (10,))
            b = fit_and_score(spec, JACCARD, prep, (10,))
            per_a = np.array(a["per_user"]["next-purchase"]["ndcg@10"])
            diff = np.array(b["per_user"]["next-purchase"]["ndcg@10"]) - per_a
            low, high = bootstrap_interval(diff)
            print(
                f"seed {seed}, {label}: {len(split.train):,} training events; default "
                f"{a['tasks']['next-purchase']['ndcg@10']:.4f}, Jaccard-10 "
                f"{b['tasks']['next-purchase']['ndcg@10']:.4f}, difference {diff.mean():+.4f} "
                f"[{low:+.4f}, {high:+.4f}]",
                flush=True,
            )


if __name__ == "__main__":
    main()
