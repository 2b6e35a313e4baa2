"""Tuning: the configurations each model tries, and ``shopscale tune``'s search.

Every model gets the same budget B of configurations on the validation split: its whole grid
when the grid has at most B points, else its defaults (when they lie on the grid) plus B-1
points drawn at random without replacement (fixed seed). The best by NDCG@10 for next purchase
on validation wins; ties keep the earlier configuration.

``shopscale tune`` searches shopscale's own settings by coordinates (``coordinate_search``):
from the defaults, one setting at a time in the order below, every other value with the rest
held at the best so far, keeping a value only if it scores higher; passes repeat until one
changes nothing or the budget is spent. A random sample of 12 points of a 25,920-point grid
mostly misses the one setting that matters on a log; a pass over the axes (22 configurations)
tries every value of every setting once.

| setting | values |
|---|---|
| ``similarity`` | llr, cosine, jaccard |
| ``max_similar_per_item`` | 10, 20, 50, 100, 200 |
| ``half_life_days`` | 0 (off), 1, 7, 30 (0 only when the log has no timestamps) |
| ``half_life_events`` | 0 (off), 2, 5, 20 (0 only when the log has no timestamps) |
| ``vote`` | llr, geometric, conditional (LLR only: not tried beside a classic similarity) |
| ``weights`` | all 1; views 0.5 and carts 2; views 0.25, carts and favourites 1 |
| ``max_items_per_user`` | 50, 200, 500 |
| ``unprompted_weight`` | 0 (off), 1e3, 1e4, 1e5 (LLR only) |
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shopscale.recommend.params import DECAYS, RecommendParams
from shopscale.store.files import atomic_path

WEIGHT_PRESETS: list[dict[str, float]] = [
    {},
    {"viewed": 0.5, "carted": 2.0},
    {"viewed": 0.25, "carted": 1.0, "favorited": 1.0},
]
SHOPSCALE_GRID: dict[str, list[Any]] = {
    "similarity": ["llr", "cosine", "jaccard"],
    "max_similar_per_item": [10, 20, 50, 100, 200],
    "half_life_days": [0.0, 1.0, 7.0, 30.0],
    "half_life_events": [0.0, 2.0, 5.0, 20.0],
    "vote": ["llr", "geometric", "conditional"],
    "weights": WEIGHT_PRESETS,
    "max_items_per_user": [50, 200, 500],
    "unprompted_weight": [0.0, 1_000.0, 10_000.0, 100_000.0],
}
"""``tune``'s grid, in the order ``coordinate_search`` visits the settings: those that moved
validation figures most in docs/evaluation.md's screens first."""
LLR_ONLY = ("vote", "unprompted_weight")
"""Settings that act only with ``similarity = "llr"`` (``RecommendParams``)."""
SHOPSCALE_DEFAULTS: dict[str, Any] = {
    key: getattr(RecommendParams(), key) for key in SHOPSCALE_GRID
}
"""``recommend``'s defaults for every grid key: ``tune`` tries them first, so it never
writes a config worse on validation than the defaults."""
BLEND_GRID: dict[str, list[Any]] = {
    "weights": WEIGHT_PRESETS,
    "transform": ["llr", "sqrt", "binary"],
    "self_weight": [0.0, 1.0, 10.0, 100.0, 1000.0],
    "max_similar_per_item": [20, 50, 100, 200],
    "half_life_days": [0.0, 1.0, 7.0, 30.0],
    "half_life_events": [0.0, 2.0, 5.0, 20.0],
}


def for_log(
    grid: Mapping[str, Sequence[Any]],
    defaults: Mapping[str, Any],
    *,
    has_time: bool,
    actions: Collection[str] | None = None,
) -> tuple[dict[str, Sequence[Any]], dict[str, Any]]:
    """``grid`` and ``defaults`` as they can act on a log, so no configuration of a budget is
    spent on a setting that cannot act and the defaults are tried as they would run: without
    timestamps the decays (``DECAYS``) are pinned to off in both; given the log's
    ``actions``, each ``weights`` preset (a dict) keeps only the actions the log has, and
    presets that become equal are tried once (on a log without views or carts every preset
    is "all 1")."""
    grid, defaults = dict(grid), dict(defaults)
    if not has_time:
        grid.update({k: [0.0] for k in DECAYS if k in grid})
        defaults.update({k: 0.0 for k in DECAYS if k in defaults})
    if actions is not None and "weights" in grid:
        present = set(actions)

        def on_log(weights: Any) -> Any:
            if not isinstance(weights, Mapping):
                return weights
            return {a: w for a, w in weights.items() if a in present}

        presets: list[Any] = []
        for weights in map(on_log, grid["weights"]):
            if weights not in presets:
                presets.append(weights)
        grid["weights"] = presets
        if "weights" in defaults:
            defaults["weights"] = on_log(defaults["weights"])
    return grid, defaults


def grid_sample(
    grid: Mapping[str, Sequence[Any]], defaults: Mapping[str, Any], budget: int, seed: int
) -> list[dict[str, Any]]:
    """The whole grid if it fits the budget, else defaults + a fixed-seed random sample."""
    keys = sorted(grid)
    if not keys:
        return [{}]
    points = [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))
    ]
    if len(points) <= budget:
        return points
    start = {k: defaults[k] for k in keys if k in defaults}
    chosen = [start] if len(start) == len(keys) and start in points else []
    rest = [p for p in points if p not in chosen]
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(rest), size=budget - len(chosen), replace=False)
    return chosen + [rest[int(i)] for i in sorted(picks)]


Score = Callable[[dict[str, Any]], float]


def inert(key: str, config: Mapping[str, Any]) -> bool:
    """Whether ``key`` cannot change the lists of ``config`` (an LLR-only setting beside a
    classic similarity), so a search spends no configuration on it."""
    return key in LLR_ONLY and config.get("similarity", "llr") != "llr"


def coordinate_search(
    grid: Mapping[str, Sequence[Any]],
    defaults: Mapping[str, Any],
    budget: int,
    score: Score,
) -> tuple[float, dict[str, Any]]:
    """Best (score, config) found by a coordinate search of ``grid`` within ``budget`` calls.

    Starts at ``defaults`` (the first value of a key without one), then per pass visits the
    keys in ``grid``'s order and tries each other value of the key with the rest held at the
    best config so far; a config replaces the best only if it scores strictly higher, so ties
    keep the earlier one and the result is never worse than the defaults. Stops after a pass
    that changes nothing, when the budget is spent, or when no untried config is left; no
    config is scored twice. Deterministic: no randomness, the grid's order decides."""
    if budget < 1:
        raise ValueError(f"budget must be at least 1, got {budget}")
    keys = list(grid)
    best_cfg = {k: defaults[k] if k in defaults else grid[k][0] for k in keys}
    best = score(dict(best_cfg))
    tried = {_key(best_cfg)}
    spent = 1
    changed = True
    while changed and spent < budget:
        changed = False
        for key in keys:
            if inert(key, best_cfg):
                continue
            base = dict(best_cfg)
            for value in grid[key]:
                cfg = {**base, key: value}
                if _key(cfg) in tried:
                    continue
                if spent >= budget:
                    return best, best_cfg
                tried.add(_key(cfg))
                spent += 1
                value_score = score(dict(cfg))
                if value_score > best:
                    best, best_cfg, changed = value_score, cfg, True
    return best, best_cfg


def _key(config: Mapping[str, Any]) -> str:
    """A config as a hashable, order-free string (values may be dicts, e.g. ``weights``)."""
    return json.dumps(config, sort_keys=True, default=repr)


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    """Number of points of a grid."""
    return math.prod(len(v) for v in grid.values()) if grid else 1


def _toml_value(value: Any) -> str:
    """One TOML value: string, bool, number, list or inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_config(path: Path, section: str, values: Mapping[str, Any], comment: str) -> Path:
    """Write ``[section]`` with ``values`` (None values left out) as a TOML file, atomically."""
    lines = [f"# {line}" for line in comment.splitlines()] + ["", f"[{section}]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
