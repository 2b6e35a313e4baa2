"""The rank kernel alone: every user scored in full against users ranked from the heads of
their vote rows (``kernels.value_order``), on the real inputs of one shard of users.

Runs the local engine through read, encode, map and reduce on ``--log``, prepares the first
``--users`` users as ``rank`` does (history weights, exclusions), then times
``kernels.score_users`` with and without the heads, alternating, ``--repeat`` times each after
one warm-up call, and checks that both give the same bits. Also prints how many votes the
shard's users hold (the full pass's work).

    python benchmarks/rank_kernel.py --log events.parquet      # a 100k-user shard of this log
    python benchmarks/rank_kernel.py --log events.parquet --depth 4 --least-work 256

Writes ``benchmarks/results/rank-kernel-<date>T<time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path

import numpy as np

from shopscale.engine.local import kernels
from shopscale.engine.local.engine import LocalEngine
from shopscale.events import EventsParams
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.rules import popularity_order, prior_votes

HERE = Path(__file__).resolve().parent


def prepare(log: Path, users: int) -> tuple[tuple, dict, LocalEngine]:
    """The arguments ``rank`` gives ``score_users`` for the first ``users`` users of ``log``."""
    eng = LocalEngine()
    params = RecommendParams()
    eng.read([log], EventsParams())
    eng.encode(params)
    eng.map(params)
    for _ in eng.reduce(params):
        pass
    n_items = len(eng.items)
    v = eng.votes
    votes = (v.indptr.astype(np.int64), v.indices, v.data)
    shard = eng._fetch((0, min(users, len(eng.users))))
    args = (
        eng._history(shard, params),
        votes,
        eng._exclusions(shard, params),
        popularity_order(eng.totals.pop_any, eng.totals.pop_primary),
    )
    prior = prior_votes(eng.totals.unprompted, eng.totals.left_total, len(eng.users), params)
    kw = {"n_items": n_items, "n": params.n, "backfill": params.backfill, "prior": prior}
    return args, kw, eng


def main() -> None:
    """Time the kernel both ways on one shard; print and save the medians."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("--users", type=int, default=100_000, help="users in the shard (default 100k)")
    p.add_argument("--depth", type=int, default=kernels.PRUNE_DEPTH)
    p.add_argument("--least-work", type=int, default=kernels.PRUNE_MIN_WORK)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    a = p.parse_args()
    args, kw, eng = prepare(a.log, a.users)
    h_ptr, h_idx, h_val = args[0]
    s_ptr = args[1][0]
    work = np.add.reduceat(np.diff(s_ptr)[h_idx] * (h_val > 0), h_ptr[:-1]) if h_idx.size else 0
    work = np.where(np.diff(h_ptr) > 0, work, 0)
    start = time.perf_counter()
    order = kernels.value_order(args[1], kw["n_items"], depth=a.depth, least_work=a.least_work)
    order_s = time.perf_counter() - start
    runs: dict[str, list[float]] = {"full": [], "heads": []}
    results = {}
    for name, o in (("full", None), ("heads", order)):  # warm-up (numba's cache, first touch)
        results[name] = kernels.score_users(*args, **kw, order=o)
    same = all(x.tobytes() == y.tobytes() for x, y in zip(*results.values(), strict=True))
    for _ in range(a.repeat):
        for name, o in (("full", None), ("heads", order)):
            start = time.perf_counter()
            kernels.score_users(*args, **kw, order=o)
            runs[name].append(round(time.perf_counter() - start, 3))
    out = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "log": str(a.log),
        "users": int(h_ptr.size - 1),
        "items": kw["n_items"],
        "votes_per_user": {"mean": float(np.mean(work)), "p50": float(np.median(work))},
        "depth": a.depth,
        "least_work": a.least_work,
        "value_order_s": round(order_s, 3),
        "runs": runs,
        "median_s": {k: statistics.median(v) for k, v in runs.items()},
        "same_bits": same,
    }
    eng.close()
    print(json.dumps(out, indent=1))
    a.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M")
    (a.results_dir / f"rank-kernel-{stamp}.json").write_text(json.dumps(out, indent=1) + "\n")
    if not same:
        raise SystemExit("the two rankings differ")


if __name__ == "__main__":
    main()
