"""``coordinate_search``: the search ``shopscale tune`` (and ``shopscale-tuned``) runs."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.evaluate.catalogue import MODELS
from shopscale.evaluate.data import from_arrays
from shopscale.evaluate.models import Adopt
from shopscale.evaluate.run import EvaluateParams, SearchResult, evaluate
from shopscale.evaluate.split import parse_split
from shopscale.evaluate.tune import (
    SHOPSCALE_DEFAULTS,
    SHOPSCALE_GRID,
    coordinate_search,
    for_log,
    grid_sample,
    inert,
)
from tests.evaluate.conftest import shop_rows


@st.composite
def problems(draw: st.DrawFn) -> tuple[dict[str, list[int]], dict[str, int], dict[tuple, float]]:
    """A grid of 1-4 keys with 1-4 values each, defaults on it, and a score per point (few
    distinct values, so ties happen)."""
    n_keys = draw(st.integers(1, 4))
    grid = {f"k{n}": list(range(draw(st.integers(1, 4)))) for n in range(n_keys)}
    defaults = {k: draw(st.sampled_from(v)) for k, v in grid.items()}
    points = list(itertools.product(*grid.values()))
    values = draw(st.lists(st.sampled_from([0.0, 0.1, 0.2, 0.3]), min_size=len(points),
                           max_size=len(points)))  # fmt: skip
    return grid, defaults, dict(zip(points, values, strict=True))


def _run(
    grid: dict[str, list[int]], defaults: dict[str, int], table: dict[tuple, float], budget: int
) -> tuple[tuple[float, dict[str, Any]], list[dict[str, Any]]]:
    """The search's result and every config it scored, in order."""
    calls: list[dict[str, Any]] = []

    def score(config: dict[str, Any]) -> float:
        calls.append(config)
        return table[tuple(config[k] for k in grid)]

    return coordinate_search(grid, defaults, budget, score), calls


@settings(max_examples=300, deadline=None)
@given(problems(), st.integers(1, 300))
def test_the_search_keeps_the_first_best_of_what_it_scored_within_the_budget(
    problem: tuple[dict[str, list[int]], dict[str, int], dict[tuple, float]], budget: int
) -> None:
    """The defaults are scored first; no config twice; never more than the budget; the
    result is the first config that reached the highest score seen (ties keep the earlier),
    so it is never worse than the defaults; the same inputs give the same search."""
    grid, defaults, table = problem
    (best, config), calls = _run(grid, defaults, table, budget)
    assert calls[0] == defaults
    assert len(calls) <= budget
    keys = [tuple(c[k] for k in grid) for c in calls]
    assert len(set(keys)) == len(keys)
    seen = [table[k] for k in keys]
    assert best == max(seen) >= seen[0]
    assert config == calls[seen.index(best)]
    assert _run(grid, defaults, table, budget) == ((best, config), calls)


@settings(max_examples=300, deadline=None)
@given(problems())
def test_with_budget_enough_the_search_ends_at_a_coordinate_optimum(
    problem: tuple[dict[str, list[int]], dict[str, int], dict[tuple, float]],
) -> None:
    """Given as many configs as the grid has, it stops where no change of one setting scores
    higher (each such neighbour was scored)."""
    grid, defaults, table = problem
    (best, config), calls = _run(grid, defaults, table, len(table))
    for key, values in grid.items():
        for value in values:
            neighbour = {**config, key: value}
            assert neighbour in calls
            assert table[tuple(neighbour[k] for k in grid)] <= best


def test_one_pass_finds_the_optimum_of_a_separable_score() -> None:
    """When each setting helps on its own, one pass (1 + sum of the other values) finds the
    best of every setting, and a second pass only confirms it."""
    grid = {"a": [0, 1, 2], "b": [0, 1], "c": [0, 1, 2, 3]}
    want = {"a": 2, "b": 1, "c": 1}

    def score(config: dict[str, Any]) -> float:
        return float(sum(config[k] == v for k, v in want.items()))

    assert coordinate_search(grid, {"a": 0, "b": 0, "c": 0}, 1 + 2 + 1 + 3, score) == (3.0, want)


def test_llr_only_settings_are_not_tried_beside_a_classic_similarity() -> None:
    """``vote`` and ``unprompted_weight`` cannot act with cosine: no budget goes to them."""
    assert inert("vote", {"similarity": "cosine"}) and not inert("vote", {"similarity": "llr"})
    assert not inert("max_similar_per_item", {"similarity": "jaccard"})
    calls: list[dict[str, Any]] = []

    def score(config: dict[str, Any]) -> float:
        calls.append(config)
        return 1.0 if config["similarity"] == "cosine" else 0.0

    best, config = coordinate_search(SHOPSCALE_GRID, SHOPSCALE_DEFAULTS, 100, score)
    assert (best, config["similarity"]) == (1.0, "cosine")
    after = calls[calls.index({**SHOPSCALE_DEFAULTS, "similarity": "cosine"}) + 1 :]
    assert after and all(c["similarity"] != "llr" or c == calls[0] for c in after)
    cosine = [c for c in after if c["similarity"] == "cosine"]
    assert {c["vote"] for c in cosine} == {SHOPSCALE_DEFAULTS["vote"]}
    assert {c["unprompted_weight"] for c in cosine} == {SHOPSCALE_DEFAULTS["unprompted_weight"]}


def test_weight_presets_are_tried_once_per_distinct_effect_on_the_log() -> None:
    """A preset keeps only the log's actions: on a log of ratings every preset is "all 1", so
    the search tries it once; on a shop log all three stay. Decays are pinned off without
    timestamps."""
    ratings, start = for_log(SHOPSCALE_GRID, SHOPSCALE_DEFAULTS, has_time=False, actions=("rated",))
    assert ratings["weights"] == [{}]
    assert ratings["half_life_days"] == [0.0] and ratings["half_life_events"] == [0.0]
    shop, defaults = for_log(
        SHOPSCALE_GRID, SHOPSCALE_DEFAULTS, has_time=True, actions=("viewed", "purchased")
    )
    assert shop["weights"] == [{}, {"viewed": 0.5}, {"viewed": 0.25}]
    assert defaults == SHOPSCALE_DEFAULTS and shop["half_life_days"] == [0.0, 1.0, 7.0, 30.0]
    calls: list[dict[str, Any]] = []
    coordinate_search(ratings, start, 1000, lambda c: calls.append(c) or 0.0)
    assert len(calls) == 1 + sum(len(v) - 1 for v in ratings.values())


def test_baselines_keep_their_random_draws() -> None:
    """A randomly tuned baseline's grid is not touched by the log's actions: its draws, and
    so every stored benchmark figure, stay what they were (own-history's weights are names)."""
    spec = MODELS["own-history"]
    on_log = for_log(spec.grid, spec.defaults, has_time=True, actions=("viewed", "purchased"))
    assert on_log == (dict(spec.grid), dict(spec.defaults))
    picks = grid_sample(*on_log, 4, 42)
    assert picks[0] == dict(spec.defaults) and len(picks) == 4
    assert all(isinstance(p["weights"], str) for p in picks)


def test_a_budget_below_one_is_refused() -> None:
    """At least the defaults must be scored."""
    with pytest.raises(ValueError, match="budget"):
        coordinate_search({"a": [1]}, {}, 0, lambda config: 0.0)


def test_shopscale_tuned_searches_by_coordinates_from_the_defaults() -> None:
    """In ``evaluate`` the tuned row's trials start at ``recommend``'s defaults (decays off
    without timestamps) and each later trial of the first pass changes one setting; the
    configuration it tests is the best trial's if that beats the defaults at 95 %, else the
    defaults', and the result records which."""
    data = from_arrays(shop_rows(), has_time=False)
    params = EvaluateParams(
        split=parse_split("holdout:0.2", seed=1),
        tasks=("next-purchase",),
        models=("shopscale-tuned",),
        budget=4,
    )
    result = evaluate(data, params)["models"]["shopscale-tuned"]
    trials = result["tuning"]
    off = {"half_life_days": 0.0, "half_life_events": 0.0}
    assert MODELS["shopscale-tuned"].search == "coordinate"
    assert trials[0]["config"] == {**SHOPSCALE_DEFAULTS, **off}
    assert len(trials) == 4
    for t in trials[1:]:
        changed = [k for k in SHOPSCALE_GRID if t["config"][k] != trials[0]["config"][k]]
        assert len(changed) == 1
    best = max(trials, key=lambda t: t["ndcg@10"])
    found = result["search"]
    assert MODELS["shopscale-tuned"].adopt == "significant" and found["adopt"] == "significant"
    assert found["best"] == round(best["ndcg@10"], 6)
    assert found["default"] == round(trials[0]["ndcg@10"], 6)
    beyond_noise = best is not trials[0] and found["low"] > 0
    assert found["kept"] == ("best" if beyond_noise else "defaults")
    tested = best if beyond_noise else trials[0]
    assert result["config"] == {**SHOPSCALE_DEFAULTS, **tested["config"]}


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries({"k": st.integers(0, 2)}),
    st.fixed_dictionaries({"k": st.integers(0, 2)}),
    st.floats(-1, 1),
    st.floats(0, 1),
    st.sampled_from(["significant", "best"]),
)
def test_a_search_keeps_its_best_only_beyond_noise_when_asked(
    config: dict[str, int], first: dict[str, int], low: float, width: float, adopt: Adopt
) -> None:
    """``best`` keeps the best config always; ``significant`` keeps it only if it is not the
    defaults and its gain's interval lies above 0, else the defaults; the verdict says which."""
    found = SearchResult(0.5, config, 0.4, low, low + width, 10, 3, first, adopt)
    beyond_noise = config != first and low > 0
    assert found.significant == beyond_noise
    assert found.adopted == (config if adopt == "best" or beyond_noise else first)
    assert found.summary()["kept"] == ("defaults" if found.adopted == first else "best")
    if config == first:
        assert found.verdict == "the defaults are best"
    elif beyond_noise:
        assert found.verdict == "above the defaults at 95 %"
    else:
        assert found.verdict.startswith("within noise of the defaults at 95 %")
        assert found.verdict.endswith("kept" if adopt == "significant" else "as good a choice")


def test_tune_metric_must_have_per_user_figures() -> None:
    """A search's gain is judged on per-user figures, kept for NDCG@10 and recall@10 only:
    another tune metric is refused up front, not after a search."""
    assert EvaluateParams(tune_metric="recall@10").tune_metric == "recall@10"
    with pytest.raises(ValueError, match="tune_metric must be one of ndcg@10, recall@10"):
        EvaluateParams(tune_metric="map@10")
