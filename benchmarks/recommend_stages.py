"""Stage-by-stage timing of the local engine, with the rank kernel's work counted.

    python benchmarks/recommend_stages.py benchmarks/.data/events-10000000-*.csv

Prints seconds per stage, the rank stage split into fetch / history / kernel / decode, and the
number of vote accumulations the kernel performs (ns per accumulation = kernel time / count).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from shopscale.engine.local.engine import LocalEngine
from shopscale.engine.local.kernels import score_users
from shopscale.events import EventsParams
from shopscale.recommend.params import RecommendParams


def main(path: Path) -> None:
    """Run each stage of the local engine on ``path`` and print where the time goes."""
    engine, params = LocalEngine(), RecommendParams()
    for stage, call in (
        ("read", lambda: engine.read([path], EventsParams())),
        ("encode", lambda: engine.encode(params)),
        ("map", lambda: engine.map(params)),
        ("reduce", lambda: sum(b.num_rows for b in engine.reduce(params))),
    ):
        start = time.perf_counter()
        call()
        print(f"{stage:>8} {time.perf_counter() - start:7.2f} s")
    n_items = len(engine.items)
    pop_any, pop_primary = engine.totals.pop_any, engine.totals.pop_primary
    order = np.lexsort((np.arange(n_items), -pop_any, -pop_primary))
    popular = order[pop_any[order] > 0].astype(np.int32)
    votes = (engine.votes.indptr.astype(np.int64), engine.votes.indices, engine.votes.data)
    lengths = np.diff(engine.votes.indptr)
    seconds = dict.fromkeys(("history", "kernel", "decode"), 0.0)
    work = 0
    for shard in engine._shards(params):
        t0 = time.perf_counter()
        history = engine._history(shard, params)
        exclude = engine._exclusions(shard, params)
        t1 = time.perf_counter()
        lists = score_users(
            history, votes, exclude, popular, n_items=n_items, n=params.n, backfill=True
        )
        t2 = time.perf_counter()
        engine._decode_recs(shard, *lists)
        seconds["history"] += t1 - t0
        seconds["kernel"] += t2 - t1
        seconds["decode"] += time.perf_counter() - t2
        work += int(lengths[history[1]].sum())
    print("    rank " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()))
    print(f"accumulations {work:,} ({seconds['kernel'] / work * 1e9:.1f} ns each)")
    engine.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
