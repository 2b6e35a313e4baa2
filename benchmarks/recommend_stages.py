"""Stage-by-stage timing of the local engine: wall and CPU seconds, the rank kernel's work.

    python benchmarks/recommend_stages.py benchmarks/.data/longtail-events-2000000-*.csv
    python benchmarks/recommend_stages.py LOG --memory-limit 4GB --item-shards 16

Prints wall and process CPU seconds per stage (CPU / wall near the core count: the stage uses
every core; near 1: one), the pair store's item shards and spills, and the number of vote
accumulations of the rank kernel (ns per accumulation = kernel CPU time / count). On a shared,
loaded machine wall times are noise; CPU seconds move much less.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shopscale.engine.local.engine import LocalEngine
from shopscale.events import EventsParams
from shopscale.recommend.params import RecommendParams


def timed(name: str, call: Callable[[], object]) -> float:
    """Run ``call``; print its wall and CPU seconds; return the CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{name:>8} {wall:7.2f} s wall {cpu:7.2f} s cpu ({cpu / max(wall, 1e-9):.1f} cores)")
    return cpu


def main(argv: list[str] | None = None) -> None:
    """Run each stage of the local engine on the log and print where the time goes."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("log", type=Path)
    p.add_argument("--memory-limit", default=None)
    p.add_argument("--item-shards", type=int, default=None)
    args = p.parse_args(argv)
    engine = LocalEngine(memory_limit=args.memory_limit, item_shards=args.item_shards)
    params = RecommendParams()
    timed("read", lambda: engine.read([args.log], EventsParams()))
    timed("encode", lambda: engine.encode(params))
    timed("map", lambda: engine.map(params))
    store = engine.pairs
    assert store is not None
    print(f"    pairs: {store.n_shards} item shard(s), spilled {store.spills} time(s)")
    timed("reduce", lambda: sum(b.num_rows for b in engine.reduce(params)))
    kernel = timed("rank", lambda: sum(b.num_rows for b in engine.rank(params)))
    lengths = np.diff(engine.votes.indptr)
    work = 0
    for shard in engine._shards(params):
        work += int(lengths[engine._history(shard, params)[1]].sum())
    print(f"accumulations {work:,} ({kernel / max(work, 1) * 1e9:.1f} ns of rank CPU each)")
    engine.close()


if __name__ == "__main__":
    main()
