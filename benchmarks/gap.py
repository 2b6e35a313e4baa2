"""Where shopscale's gap to the own-history family lies, on validation splits only: in the
order of the user's own engaged items, or in what fills the rest of the list.

Next purchase, NDCG@10, per validation split (the rule of ``quality.py`` and the seeds given):
the family at its defaults (the point tuning tries first), shopscale at its defaults, and
two lists spliced from them:

- *family own, shopscale rest*: the family's own items in its order, then shopscale's list
  without them, then the popular backfill;
- *shopscale own, popular rest*: the items of shopscale's list the user engaged with, in
  shopscale's order, then the popular backfill (what the family fills with).

If the first splice equals the family and the second equals shopscale, the whole gap is the
order of the engaged items (the fill does not matter); the other way round, it is the fill.

``--orders`` also scores orders of the engaged items alone (popular backfill after them,
every event counted, no decay), to see which order of a user's own items a log rewards:
the family's (each action's pooled rate of ending in the primary action, ties to the item
with more buyers), shopscale's self vote (that rate per item, pulled to the pooled rate by
a pseudo-count m: ``self_prior``), and mixtures; each compared with the family's order.

    python benchmarks/gap.py --datasets retailrocket --seeds 42,43,44,45,46,47
    python benchmarks/gap.py --datasets taobao --split holdout:0.2 --seeds 42,43,44
    python benchmarks/gap.py --datasets retailrocket --seeds 42,43,44,45,46,47 --orders
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from quality import DATA
from screen import validation_sets
from shopscale.evaluate.baselines import OwnHistory
from shopscale.evaluate.catalogue import MODELS
from shopscale.evaluate.metrics import RankedLists, bootstrap_interval, per_user_scores
from shopscale.evaluate.models import Exclusion, backfill
from shopscale.evaluate.run import Prepared
from shopscale.recommend.ranking import self_conversion

TASK = "next-purchase"
FAMILY_ORDER = "own items: pooled rate, ties by buyers (the family)"


def engaged(prep: Prepared) -> sp.csr_matrix:
    """Users x items: 1 where the user did any action but the primary one on the item."""
    train = prep.train
    m = sp.csr_matrix(train.shape, dtype=np.float32)
    for action in train.events.actions:
        if action != train.primary:
            m = m + train.binary(action)
    m = sp.csr_matrix(m)
    m.data[:] = 1.0
    return m


def spliced(
    first: RankedLists, rest: RankedLists | None, eng: sp.csr_matrix, prep: Prepared, n: int
) -> RankedLists:
    """Per user: ``first``'s entries the user engaged with (in order), then ``rest``'s other
    entries (none when ``rest`` is None), then the popular backfill."""
    task = prep.tasks[TASK]
    items = np.full((first.users.size, n), -1, dtype=np.int64)
    for row, user in enumerate(first.users):
        mine = set(eng.indices[eng.indptr[user] : eng.indptr[user + 1]].tolist())
        own = [int(i) for i in first.items[row] if i >= 0 and int(i) in mine]
        more = [] if rest is None else [int(i) for i in rest.items[row] if i >= 0]
        picked = (own + [i for i in more if i not in own])[:n]
        items[row, : len(picked)] = picked
    filled, model = backfill(items, items >= 0, first.users, task.exclude, prep.train.popular)
    return RankedLists(first.users, filled, model)


def gap(prep: Prepared, eng: sp.csr_matrix, n: int = 10) -> dict[str, npt.NDArray[np.float64]]:
    """Per-user NDCG@10 (next purchase) of the four lists; ``eng`` = ``engaged(prep)``."""
    task = prep.tasks[TASK]
    exclude = Exclusion(task.rule, task.exclude)
    lists = {}
    for name in ("own-history", "shopscale"):
        model = MODELS[name].build({})
        model.fit(prep.train)
        lists[name] = model.recommend(task.truth.users, exclude, n)
    lists["family own, shopscale rest"] = spliced(
        lists["own-history"], lists["shopscale"], eng, prep, n
    )
    lists["shopscale own, popular rest"] = spliced(lists["shopscale"], None, eng, prep, n)
    return {
        name: np.asarray(per_user_scores(ranked, task.truth, 10)["ndcg@10"])
        for name, ranked in lists.items()
    }


Order = Callable[[npt.NDArray[np.int64], dict[str, npt.NDArray[np.float64]]], tuple[Any, Any]]


def own_orders(
    prep: Prepared, eng: sp.csr_matrix, n: int = 10
) -> dict[str, npt.NDArray[np.float64]]:
    """Per-user NDCG@10 (next purchase) of each order of the user's engaged (``eng``),
    unexcluded items (score, then tie-break, then item id; items scoring 0 are left to the
    backfill). The pooled rates are the family's own (``OwnHistory.action_weights``), the
    per-item rates the engine's (``ranking.self_conversion``)."""
    train, task = prep.train, prep.tasks[TASK]
    users = task.truth.users
    bought = train.binary(train.primary)
    buyers = np.asarray(bought.sum(axis=0)).ravel().astype(np.float64)
    pooled = OwnHistory(weights="conversion").action_weights(train)
    actions = [a for a in train.events.actions if a != train.primary]
    counts, rho, k11, item_rates = {}, {}, {}, {}
    for a in actions:
        did = train.binary(a)
        counts[a], rho[a] = train.counts(a), pooled[train.events.code(a)]
        k11[a] = np.asarray(did.multiply(bought).sum(axis=0)).ravel()
        n_a = np.asarray(did.sum(axis=0)).ravel()
        for prior in (100.0, 1e3, 1e4):
            item_rates[a, prior] = self_conversion(k11[a], n_a, prior)

    def rate(c: npt.NDArray[np.int64], m: dict[str, npt.NDArray[np.float64]]) -> Any:
        return sum(rho[a] * m[a] for a in actions)

    def item_rate(prior: float) -> Callable[..., Any]:
        def score(c: npt.NDArray[np.int64], m: dict[str, npt.NDArray[np.float64]]) -> Any:
            return sum(item_rates[a, prior][c] * m[a] for a in actions)

        return score

    def zero(c: npt.NDArray[np.int64]) -> Any:
        return np.zeros(c.size)

    orders: dict[str, Order] = {
        "pooled rate, ties by buyers (the family)": lambda c, m: (rate(c, m), buyers[c]),
        "item rate m=100 (shopscale's self vote)": lambda c, m: (item_rate(100.0)(c, m), zero(c)),
        "item rate m=1000": lambda c, m: (item_rate(1e3)(c, m), zero(c)),
        "item rate m=10000": lambda c, m: (item_rate(1e4)(c, m), zero(c)),
        "pooled rate, ties by item rate m=100": lambda c, m: (rate(c, m), item_rate(100.0)(c, m)),
        "pooled rate x log(2 + buyers)": lambda c, m: (
            rate(c, m) * np.log(2.0 + buyers[c]),
            zero(c),
        ),
        "pooled rate, ties by buyers after the action": lambda c, m: (
            rate(c, m),
            sum(k11[a][c] * (m[a] > 0) for a in actions),
        ),
    }
    exclude = task.exclude
    rows = []
    for user in users:
        mine = eng.indices[eng.indptr[user] : eng.indptr[user + 1]]
        banned = exclude.indices[exclude.indptr[user] : exclude.indptr[user + 1]]
        c = np.setdiff1d(mine, banned).astype(np.int64)
        rows.append((c, {a: np.asarray(counts[a][user, c].todense()).ravel() for a in actions}))
    out = {}
    for name, order in orders.items():
        items = np.full((users.size, n), -1, dtype=np.int64)
        for row, (c, m) in enumerate(rows):
            if not c.size:
                continue
            score, tie = order(c, m)
            top = np.lexsort((c, -tie, -score))[:n]
            top = top[score[top] > 0]
            items[row, : top.size] = c[top]
        filled, model = backfill(items, items >= 0, users, exclude, train.popular)
        ranked = RankedLists(users, filled, model)
        out[name] = np.asarray(per_user_scores(ranked, task.truth, 10)["ndcg@10"])
    return out


def main() -> None:
    """Print one row per validation split: each list's NDCG@10 and its difference from the
    family's with the 95 % paired interval."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default="retailrocket", help="comma list of data sets")
    ap.add_argument("--seeds", default="42", help="holdout seeds")
    ap.add_argument("--split", help="one split rule, not the set's own (+ leave-last-out)")
    ap.add_argument("--data-dir", type=Path, default=DATA)
    ap.add_argument("--orders", action="store_true", help="also score orders of the own items")
    ap.add_argument("--json", type=Path, help="also write every figure to this file")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    out = []
    print("| data set | split | seed | users | list | NDCG@10 | minus the family('s order) |")
    print("|---|---|---:|---:|---|---:|---|")
    for name in args.datasets.split(","):
        for rule, seed, prep in validation_sets(name, seeds, args.data_dir, args.split):
            eng = engaged(prep)
            scores = gap(prep, eng)
            family = scores["own-history"]
            if args.orders:
                scores |= {f"own items: {k}": v for k, v in own_orders(prep, eng).items()}
            for label, per_user in scores.items():
                # orders of the own items are compared with the family's order, lists with
                # the family itself (they differ only where the family decays, e.g. Taobao)
                d = per_user - (scores[FAMILY_ORDER] if label.startswith("own items") else family)
                low, high = bootstrap_interval(d)
                print(
                    f"| {name} | {rule} | {seed} | {family.size} | {label} | "
                    f"{per_user.mean():.4f} | {d.mean():+.4f} [{low:+.3f}, {high:+.3f}] |",
                    flush=True,
                )
                out.append(
                    {
                        "dataset": name,
                        "split": rule,
                        "seed": seed,
                        "list": label,
                        "users": int(family.size),
                        "ndcg@10": float(per_user.mean()),
                        "minus_family": [float(d.mean()), low, high],
                    }
                )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
