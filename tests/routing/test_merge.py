"""Reduce step: regrouping routes keeps every order once and never overspends the fleet."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.routing.merge import improve, objective, regroup
from shopscale.routing.plan import Plan
from shopscale.routing.problem import Problem
from shopscale.routing.solve import solve_problem
from tests.routing.conftest import assert_feasible
from tests.routing.strategies import problems


def _solved(problem: Problem) -> Plan:
    """A quick whole-problem plan to regroup."""
    outcome = solve_problem(problem, time_limit_s=30, seed=0, max_iterations=50)
    return Plan(outcome.routes, dict.fromkeys(outcome.unserved, ""))


@given(problem=problems(max_orders=30), size=st.integers(10, 40), seed=st.integers(0, 50))
@settings(max_examples=10, deadline=None)
def test_regroup_partitions_orders_and_fleet(problem: Problem, size: int, seed: int) -> None:
    """Route pieces hold each order exactly once and their counts cover their routes and fleet."""
    plan = _solved(problem)
    pieces = regroup(problem, plan, size=size, seed=seed)
    together = np.concatenate([p.orders for p in pieces])
    assert sorted(together.tolist()) == list(range(problem.n_orders))
    totals = np.sum([p.counts for p in pieces], axis=0)
    assert totals.tolist() == [v.count for v in problem.vehicles]
    for piece in pieces:
        used = Counter(r.vehicle_type for r in piece.routes)
        assert all(piece.counts[t] >= n for t, n in used.items())


@given(problem=problems(max_orders=30), seed=st.integers(0, 50))
@settings(max_examples=8, deadline=None)
def test_improve_never_worsens(problem: Problem, seed: int) -> None:
    """Re-solving route pieces from a warm start never raises the objective; plan stays valid."""
    plan = _solved(problem)
    pieces = regroup(problem, plan, size=12, seed=seed)
    outcomes = [
        solve_problem(
            problem.subset(p.orders, p.counts),
            time_limit_s=30,
            seed=seed,
            initial=p.routes,
            max_iterations=50,
        )
        for p in pieces
    ]
    better, gain = improve(problem, pieces, outcomes)
    assert gain >= 0
    before = objective(problem, plan.routes, list(plan.unserved))
    assert objective(problem, better.routes, list(better.unserved)) == before - gain
    assert_feasible(problem, better)


def test_regroup_without_routes_gives_one_piece(small_problem: Problem) -> None:
    """A plan with no routes yet becomes one piece holding every order and the whole fleet."""
    plan = Plan([], dict.fromkeys(range(small_problem.n_orders), "unserved"))
    (piece,) = regroup(small_problem, plan, size=5, seed=0)
    assert piece.orders.tolist() == list(range(small_problem.n_orders))
    assert piece.counts == tuple(v.count for v in small_problem.vehicles)
