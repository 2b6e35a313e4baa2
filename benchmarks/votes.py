"""Votes per user: how much work rank has on a log, from a finished job's output.

A user's history entry (action c, item j) votes for every item i that kept j among its
indicators of action c, so rank's work is the sum over history entries of how many items
keep that entry (before the kernel's pruning). This counts it with DuckDB from the log and
the job's ``similar_items.parquet`` (every action x item once, as the job dedupes; the
500-item downsampling is ignored, which the ``longtail`` shape never reaches), so the time
of rank can be read per vote, and the growth of rank split into work and speed:

    shopscale recommend log.parquet --out out/
    python benchmarks/votes.py log.parquet out/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb


def votes(log: Path, out: Path) -> dict[str, float]:
    """History rows, users, kept pairs, votes and votes per user; rank seconds and ns/vote."""
    sims = out / "similar_items.parquet"
    for path in (log, sims):
        if not path.exists():
            raise SystemExit(f"{path}: not found")
    con = duckdb.connect()
    rows, total, users, kept = con.execute(
        "WITH kept AS (SELECT action, similar_item_id AS item_id, count(*) AS n "
        "FROM read_parquet($sims) GROUP BY ALL), "
        "hist AS (SELECT DISTINCT user_id, action, item_id FROM read_parquet($log)) "
        "SELECT (SELECT count(*) FROM hist), coalesce(sum(n), 0), "
        "(SELECT count(DISTINCT user_id) FROM hist), (SELECT count(*) FROM read_parquet($sims)) "
        "FROM hist JOIN kept USING (action, item_id)",
        {"sims": str(sims), "log": str(log)},
    ).fetchall()[0]
    summary = out / "summary.json"
    rank = json.loads(summary.read_text()).get("seconds", {}).get("rank", 0.0)
    return {
        "history_rows": rows,
        "users": users,
        "kept_pairs": kept,
        "votes": int(total),
        "votes_per_user": round(total / max(1, users), 1),
        "rank_s": rank,
        "ns_per_vote": round(1e9 * rank / total, 2) if total else 0.0,
    }


def main() -> None:
    """Print one JSON line for a log (Parquet) and the job's output folder."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("log", type=Path, help="the job's input log (Parquet)")
    ap.add_argument("out", type=Path, help="the job's output folder (--out)")
    args = ap.parse_args()
    print(json.dumps({"log": args.log.name, **votes(args.log, args.out)}))


if __name__ == "__main__":
    main()
