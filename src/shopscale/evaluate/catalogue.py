"""Every model ``shopscale evaluate`` knows, with its defaults and its tuning grid.

Each grid is searched with the same budget on the validation split (see ``tune``). shopscale's
default (``shopscale``) is deliberately *not* tuned: it is the configuration users get;
``shopscale-tuned`` is what ``shopscale tune`` would write for the log, searched the way
``tune`` searches (by coordinates from the defaults, its best kept only if it beats the
defaults at 95 % on the validation users).
"""

from __future__ import annotations

from shopscale.errors import ConfigError
from shopscale.evaluate.baselines import ALS, BPR, EASE, ItemKNN, OwnHistory, Popularity
from shopscale.evaluate.blend import Blend
from shopscale.evaluate.models import ModelSpec
from shopscale.evaluate.shopscale_models import ShopscaleJob
from shopscale.evaluate.tune import SHOPSCALE_DEFAULTS, SHOPSCALE_GRID

NEIGHBOURS = [10, 20, 50, 100, 200, 500]

# The candidate's proposed defaults (chosen on validation splits, see docs/evaluation.md).
BLEND_DEFAULTS: dict[str, object] = {
    "transform": "llr",
    "vote": "geometric",
    "self_weight": 1_000_000.0,
    "self_prior": 100.0,
    "keep_self_pairs": False,
    "half_life_days": 30.0,
    "half_life_events": 20.0,
    "max_similar_per_item": 50,
    "unprompted_weight": 0.0,
}

# The prototype of the engine's defaults since 2026-12-04 (docs/evaluation.md, "Repeated
# engagement on the self votes only"): each own-engagement entry's self vote times its number
# of events. The engine's default lists exactly what it lists (benchmarks/README.md).
REPEATS_DEFAULTS: dict[str, object] = {**BLEND_DEFAULTS, "repeats": "count", "repeats_on": "self"}

# Tried first by tuning: chosen on validation splits only (docs/evaluation.md, "The
# own-history family"): every action weighted by how often it ends in the primary action on
# the same item, every event counted, a 1-day half-life (off without timestamps), ties by
# buyers. It was the best point of the family's 64 on the validation splits of seven logs.
OWN_HISTORY_DEFAULTS: dict[str, object] = {
    "weights": "conversion",
    "repeats": True,
    "half_life_days": 1.0,
    "tiebreak": "buyers",
}
# The issue's competitor: 3 x carted + 1 x viewed, once per action and item, no decay, ties
# by the item's buyers.
OWN_HISTORY_ISSUE: dict[str, object] = {
    "weights": "cart3-view1",
    "repeats": False,
    "half_life_days": 0.0,
    "tiebreak": "buyers",
}
# The fixed rule own-history was before it became a family: carted, favorited, viewed, newest.
OWN_HISTORY_STRICT: dict[str, object] = {
    **OWN_HISTORY_ISSUE,
    "weights": "tiers",
    "tiebreak": "recent",
}

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("popularity", Popularity, description="most bought items"),
        ModelSpec(
            "own-history",
            OwnHistory,
            OWN_HISTORY_DEFAULTS,
            {
                "weights": ["conversion", "cart3-view1", "uniform", "tiers"],
                "repeats": [False, True],
                "half_life_days": [0.0, 1.0, 7.0, 30.0],
                "tiebreak": ["recent", "buyers"],
            },
            "own unbought engagement, tuned: action weights, repeats, recency, tie-break",
        ),
        ModelSpec(
            "als",
            ALS,
            {"factors": 64, "regularization": 0.1, "alpha": 1.0, "iterations": 15},
            {"factors": [32, 64, 128], "regularization": [0.01, 0.1, 1.0], "alpha": [1.0, 5.0]},
            "implicit ALS",
        ),
        ModelSpec(
            "bpr",
            BPR,
            {"factors": 64, "learning_rate": 0.05, "regularization": 0.01, "iterations": 100},
            {
                "factors": [32, 64, 128],
                "learning_rate": [0.01, 0.05],
                "regularization": [0.001, 0.01],
            },
            "implicit BPR",
        ),
        ModelSpec(
            "itemknn-cosine",
            ItemKNN,
            {"weighting": "cosine", "K": 50},
            {"K": NEIGHBOURS},
            "implicit item-kNN, cosine",
        ),
        ModelSpec(
            "itemknn-bm25",
            ItemKNN,
            {"weighting": "bm25", "K": 50},
            {"K": [20, 50, 100, 200], "B": [0.5, 0.75, 0.9]},
            "implicit item-kNN, BM25",
        ),
        ModelSpec(
            "ease",
            EASE,
            {"lam": 250.0},
            {"lam": [10.0, 50.0, 100.0, 250.0, 500.0, 1000.0]},
            "EASE closed form (NumPy)",
        ),
        ModelSpec(
            "shopscale-cosine",
            ShopscaleJob,
            {"similarity": "cosine"},
            {"max_similar_per_item": NEIGHBOURS},
            "shopscale recommend, cosine",
        ),
        ModelSpec(
            "shopscale-jaccard",
            ShopscaleJob,
            {"similarity": "jaccard"},
            {"max_similar_per_item": NEIGHBOURS},
            "shopscale recommend, Jaccard",
        ),
        ModelSpec(
            "shopscale-lift",
            ShopscaleJob,
            {"similarity": "lift"},
            {"max_similar_per_item": NEIGHBOURS},
            "shopscale recommend, lift",
        ),
        ModelSpec("shopscale", ShopscaleJob, description="shopscale recommend, its defaults"),
        ModelSpec(
            "shopscale-tuned",
            ShopscaleJob,
            SHOPSCALE_DEFAULTS,
            SHOPSCALE_GRID,
            "shopscale recommend, tuned as `shopscale tune` does (coordinate search, a "
            "change kept only beyond noise)",
            search="coordinate",
            adopt="significant",
        ),
        ModelSpec(
            "shopscale-blend",
            Blend,
            BLEND_DEFAULTS,
            description="candidate: own engagement + cross-occurrence (prototype)",
        ),
        ModelSpec(
            "shopscale-repeats",
            Blend,
            REPEATS_DEFAULTS,
            description="candidate: the default, own engagement weighted by its number of "
            "events (prototype)",
        ),
    ]
}

ALIASES: dict[str, tuple[str, ...]] = {
    "all": tuple(MODELS),
    "itemknn": ("itemknn-cosine", "itemknn-bm25"),
    "shopscale-classic": ("shopscale-cosine", "shopscale-jaccard", "shopscale-lift"),
}


def resolve_models(names: str | None) -> list[str]:
    """Comma list of model names or aliases -> model names, in catalogue order, no repeats."""
    if not names:
        return list(MODELS)
    wanted: set[str] = set()
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name in ALIASES:
            wanted.update(ALIASES[name])
        elif name in MODELS:
            wanted.add(name)
        else:
            known = ", ".join([*MODELS, *ALIASES])
            raise ConfigError("--baselines", "models", f"unknown model {name!r} (known: {known})")
    return [m for m in MODELS if m in wanted]
