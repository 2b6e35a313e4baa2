"""Map step: partitioners cover every order once, fleets are shared exactly, skills hold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.errors import ConfigError
from shopscale.routing.partition import PARTITIONERS, apportion, get_partitioner, split_problem
from shopscale.routing.problem import Problem, eligible_types
from tests.routing.strategies import problems


@pytest.mark.parametrize("name", sorted(PARTITIONERS))
@given(
    points=st.integers(1, 400).flatmap(
        lambda n: st.just(np.random.default_rng(n).uniform(0, 100, size=(n, 2)))
    ),
    size=st.integers(10, 120),
    seed=st.integers(0, 100),
)
@settings(max_examples=30, deadline=None)
def test_partitioner_covers_each_point_once(
    name: str, points: np.ndarray, size: int, seed: int
) -> None:
    """Every partitioner returns non-empty groups that cover each point exactly once."""
    groups = get_partitioner(name)(points, np.array([50.0, 50.0]), size, seed)
    together = np.concatenate(groups)
    assert all(len(g) for g in groups)
    assert sorted(together.tolist()) == list(range(len(points)))


@given(total=st.integers(0, 500), weights=st.lists(st.floats(0, 1e6), min_size=1, max_size=30))
def test_apportion_sums_to_total(total: int, weights: list[float]) -> None:
    """Apportioned counts add up to the total (when any weight is positive) and are >= 0."""
    out = apportion(total, np.array(weights))
    assert (out >= 0).all()
    assert out.sum() == (total if any(w > 0 for w in weights) else 0)


@given(problem=problems(max_orders=60), size=st.integers(10, 30))
@settings(max_examples=25, deadline=None)
def test_split_respects_skills_and_fleet(problem: Problem, size: int) -> None:
    """Each order lands in one piece whose vehicles can serve it; counts add up to the fleet."""
    pieces = split_problem(problem, size=size, partitioner="kmeans", seed=0)
    together = np.concatenate([p.orders for p in pieces])
    assert sorted(together.tolist()) == list(range(problem.n_orders))
    eligible = eligible_types(problem)
    for piece in pieces:
        has = np.array(piece.counts) > 0
        assert all((eligible[i] & has).any() for i in piece.orders)
    totals = np.sum([p.counts for p in pieces], axis=0)
    assert totals.tolist() == [v.count for v in problem.vehicles]


def test_unknown_partitioner_is_config_error() -> None:
    """Asking for a partitioner that is not registered names the known ones."""
    with pytest.raises(ConfigError, match="kmeans"):
        get_partitioner("voronoi")
