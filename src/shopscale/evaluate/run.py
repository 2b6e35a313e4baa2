"""The evaluation, start to end: split, tune every model on validation, test, collect numbers.

load -> split (train/test) -> carve validation from train
     -> per model: tune on validation (same budget for all) -> fit on train -> lists
     -> metrics per task (``metrics.score_lists``) -> one JSON-ready result
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from shopscale.config import check_fields
from shopscale.evaluate.catalogue import MODELS
from shopscale.evaluate.data import Interactions, TrainData
from shopscale.evaluate.metrics import bootstrap_interval, per_user_scores, score_lists
from shopscale.evaluate.models import Adopt, Exclusion, ModelSpec, Search
from shopscale.evaluate.split import (
    TASKS,
    EvalTask,
    Split,
    SplitParams,
    Task,
    make_task,
    require_users,
    split_events,
    validation_split,
)
from shopscale.evaluate.tune import coordinate_search, for_log, grid_sample
from shopscale.log import get_logger
from shopscale.recommend.params import MAX_LIST

# Per-user scores are kept at this k, for paired comparisons between models.
PAIRED_K = 10

log = get_logger("evaluate")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class EvaluateParams:
    """The ``[evaluate]`` settings: split, cut-offs, tasks, models and the tuning budget."""

    split: SplitParams = field(default_factory=SplitParams)
    k: tuple[int, ...] = (10, 20)
    tasks: tuple[Task, ...] = TASKS
    models: tuple[str, ...] = tuple(MODELS)
    primary: str = "purchased"
    budget: int = 6
    """Configurations tried per model on the validation split (same for every model)."""
    tune_metric: str = "ndcg@10"
    tune_task: Task = "next-purchase"

    def __post_init__(self) -> None:
        check_fields(self)  # types, Literal choices, finite floats, 64-bit ints
        if not self.k or min(self.k) < 1 or max(self.k) > MAX_LIST:
            raise ValueError(f"k must be cut-offs from 1 to {MAX_LIST:,}, got {self.k}")
        if self.budget < 1:
            raise ValueError(f"budget must be at least 1, got {self.budget}")
        unknown = [m for m in self.models if m not in MODELS]
        if unknown:
            raise ValueError(f"unknown model(s): {', '.join(unknown)}")
        paired = (f"ndcg@{PAIRED_K}", f"recall@{PAIRED_K}")
        if self.tune_metric not in paired:
            raise ValueError(
                f"tune_metric must be one of {', '.join(paired)} (the per-user figures a "
                f"search's gain is judged on), got {self.tune_metric!r}"
            )
        bad = [t for t in self.tasks if t not in TASKS]
        if bad:
            raise ValueError(f"unknown task(s): {', '.join(bad)} (next-purchase, discovery)")


@dataclass
class Prepared:
    """A split with its training data and its tasks, shared by every model."""

    split: Split
    train: TrainData
    tasks: dict[str, EvalTask]


def prepare(split: Split, primary: str, tasks: tuple[Task, ...]) -> Prepared:
    """Training matrices and each task's truth and exclusions."""
    train = TrainData(split.train, primary)
    return Prepared(split, train, {t: make_task(split, train, t) for t in tasks})


def prepare_validation(split: Split, params: SplitParams, primary: str, task: Task) -> Prepared:
    """The validation split carved from ``split``'s training events, prepared for ``task``;
    a one-line error if it has no users to score."""
    val_split = validation_split(split, params, primary)
    val = prepare(val_split, primary, (task,))
    require_users(val.tasks, val_split, params, primary, "validation")
    return val


def fit_and_score(
    spec: ModelSpec, config: dict[str, Any], prep: Prepared, ks: tuple[int, ...]
) -> dict[str, Any]:
    """Fit one configuration on ``prep``'s train and score its lists on every task."""
    model = spec.build(config)
    start = time.perf_counter()
    model.fit(prep.train)
    fit_s = time.perf_counter() - start
    out: dict[str, Any] = {"fit_s": round(fit_s, 3), "tasks": {}, "per_user": {}}
    rec_s = 0.0
    catalogue = int(np.unique(prep.train.events.item).size)
    for name, task in prep.tasks.items():
        start = time.perf_counter()
        lists = model.recommend(task.truth.users, Exclusion(task.rule, task.exclude), max(ks))
        rec_s += time.perf_counter() - start
        out["tasks"][name] = score_lists(lists, task.truth, ks, catalogue)
        out["per_user"][name] = per_user_scores(lists, task.truth, PAIRED_K)
    out["recommend_s"] = round(rec_s, 3)
    out["seconds"] = round(fit_s + rec_s, 3)
    return out


def tune_model(
    spec: ModelSpec, val: Prepared, params: EvaluateParams
) -> tuple[SearchResult | None, list[dict[str, Any]]]:
    """What tuning ``spec`` on the validation split found (None for a model without a grid),
    and every trial. The config to test is ``found.adopted``."""
    if not spec.grid:
        return None, []
    return search_prepared(
        spec,
        spec.grid,
        spec.defaults,
        val,
        task=params.tune_task,
        metric=params.tune_metric,
        budget=params.budget,
        seed=params.split.seed,
        search=spec.search,
        adopt=spec.adopt,
    )


def best_of(
    search: Search,
    grid: Mapping[str, Sequence[Any]],
    defaults: Mapping[str, Any],
    budget: int,
    seed: int,
    score: Callable[[dict[str, Any]], float],
) -> tuple[float, dict[str, Any]]:
    """Best (score, config) of ``grid`` within ``budget`` by ``search``: a coordinate search
    from the defaults, or a fixed-seed random sample (ties keep the earlier either way)."""
    if search == "coordinate":
        return coordinate_search(grid, defaults, budget, score)
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    for config in grid_sample(grid, defaults, budget, seed):
        value = score(config)
        if value > best[0]:
            best = (value, config)
    return best


@dataclass(frozen=True)
class SearchResult:
    """What a search found: the best config, its validation figure, the defaults' (the
    first config scored), and the 95 % paired interval of best minus defaults over the
    validation users, so a user can tell a real gain from noise; ``adopted`` is the config
    the search keeps under its ``adopt`` rule."""

    best: float
    config: dict[str, Any]
    default: float
    low: float
    high: float
    users: int
    tried: int
    first: dict[str, Any] = field(default_factory=dict)
    """The first config scored: the defaults as they run on the log."""
    adopt: Adopt = "best"

    @property
    def significant(self) -> bool:
        """Whether the best config beats the defaults at 95 % (interval above 0)."""
        return self.config != self.first and self.low > 0

    @property
    def adopted(self) -> dict[str, Any]:
        """The config kept: the best, or with ``significant`` the defaults unless the best
        beats them beyond noise."""
        return self.config if self.adopt == "best" or self.significant else self.first

    @property
    def verdict(self) -> str:
        """The gain over the defaults in words, and what was kept."""
        if self.config == self.first:
            return "the defaults are best"
        if self.significant:
            return "above the defaults at 95 %"
        if self.adopt == "significant":
            return "within noise of the defaults at 95 %: the defaults are kept"
        return "within noise of the defaults at 95 %: the defaults are as good a choice"

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the figures, the verdict and which config was kept."""
        return {
            "best": round(self.best, 6),
            "default": round(self.default, 6),
            "low": round(self.low, 6),
            "high": round(self.high, 6),
            "users": self.users,
            "tried": self.tried,
            "adopt": self.adopt,
            "kept": "defaults" if self.adopted == self.first else "best",
            "verdict": self.verdict,
        }


def search_prepared(
    spec: ModelSpec,
    grid: Mapping[str, Sequence[Any]],
    defaults: Mapping[str, Any],
    val: Prepared,
    *,
    task: str,
    metric: str,
    budget: int,
    seed: int,
    search: Search,
    adopt: Adopt,
    progress: Callable[[int, float, dict[str, Any]], None] | None = None,
) -> tuple[SearchResult, list[dict[str, Any]]]:
    """Search ``grid`` (restricted to the log: ``tune.for_log``) for the config with the best
    ``metric`` on ``val``'s ``task``, with the best's per-user gain over the first config
    scored (the defaults) and its interval; and every trial."""
    events = val.train.events
    on_log, start = for_log(grid, defaults, has_time=events.has_time, actions=events.actions)
    trials: list[dict[str, Any]] = []
    per_user: list[tuple[dict[str, Any], float, list[float]]] = []

    def score(config: dict[str, Any]) -> float:
        scored = fit_and_score(spec, config, val, (PAIRED_K,))
        value = float(scored["tasks"][task][metric])
        per_user.append((config, value, scored["per_user"][task][metric]))
        trials.append({"config": config, metric: value, "seconds": scored["seconds"]})
        if progress is not None:
            progress(len(per_user), value, config)
        return value

    best, config = best_of(search, on_log, start, budget, seed, score)
    first, default, first_users = per_user[0]
    best_users = next(users for c, _, users in per_user if c == config)
    diffs = np.asarray(best_users, dtype=np.float64) - np.asarray(first_users, dtype=np.float64)
    low, high = bootstrap_interval(diffs) if config != first else (0.0, 0.0)
    found = SearchResult(best, config, default, low, high, diffs.size, len(per_user), first, adopt)
    return found, trials


def search_settings(
    data: Interactions,
    split: SplitParams,
    spec: ModelSpec,
    grid: dict[str, list[Any]],
    defaults: dict[str, Any],
    *,
    budget: int,
    primary: str,
    search: Search = "coordinate",
    adopt: Adopt = "significant",
    task: Task = "next-purchase",
    progress: Callable[[int, float, dict[str, Any]], None] | None = None,
) -> SearchResult:
    """``shopscale tune``: the best config of ``grid`` by NDCG@10 of ``task`` on the
    validation split of ``data``, with its gain over the defaults and that gain's interval."""
    val = prepare_validation(split_events(data, split, primary), split, primary, task)
    return search_prepared(
        spec,
        grid,
        defaults,
        val,
        task=task,
        metric=f"ndcg@{PAIRED_K}",
        budget=budget,
        seed=split.seed,
        search=search,
        adopt=adopt,
        progress=progress,
    )[0]


def evaluate(
    data: Interactions, params: EvaluateParams, progress: Progress | None = None
) -> dict[str, Any]:
    """Every model of ``params.models`` on one log: the JSON-ready result document."""
    say = progress or (lambda msg: log.info("%s", msg))
    split = split_events(data, params.split, params.primary)
    test = prepare(split, params.primary, params.tasks)
    require_users(test.tasks, split, params.split, params.primary, "test")
    val = prepare_validation(split, params.split, params.primary, params.tune_task)
    result: dict[str, Any] = {
        "params": _params_dict(params),
        "data": _describe(data, split, test, val),
        "models": {},
    }
    for name in params.models:
        spec = MODELS[name]
        found, trials = tune_model(spec, val, params)
        config = found.adopted if found is not None else {}
        say(f"{name}: tuned on validation ({len(trials)} configs), testing {config or 'defaults'}")
        scored = fit_and_score(spec, config, test, params.k)
        scored.update(
            config={**spec.defaults, **config}, tuning=trials, description=spec.description
        )
        if found is not None:
            scored["search"] = found.summary()
        result["models"][name] = scored
        ndcg = {t: round(v["ndcg@10"], 4) for t, v in scored["tasks"].items() if "ndcg@10" in v}
        say(f"{name}: {ndcg} in {scored['seconds']:.1f} s")
    return result


def _params_dict(params: EvaluateParams) -> dict[str, Any]:
    """The settings, with the split in its ``--split`` spelling."""
    d = asdict(params)
    d["split"] = {**asdict(params.split), "label": params.split.label}
    return d


def _describe(data: Interactions, split: Split, test: Prepared, val: Prepared) -> dict[str, Any]:
    """Sizes of the log, the train part and each task's test users."""
    return {
        "events": len(data),
        "users": int(np.unique(data.user).size),
        "items": int(np.unique(data.item).size),
        "actions": list(data.actions),
        "has_time": data.has_time,
        "train_events": len(split.train),
        "test_users": {t: int(task.truth.users.size) for t, task in test.tasks.items()},
        "test_pairs": {t: int(task.truth.user.size) for t, task in test.tasks.items()},
        "validation_users": {t: int(task.truth.users.size) for t, task in val.tasks.items()},
    }
