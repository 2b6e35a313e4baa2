"""Whole-problem solving with PyVRP: feasible plans, warm starts, skills via profiles."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np

from shopscale.routing.plan import Plan
from shopscale.routing.problem import Problem
from shopscale.routing.read_vrplib import read_vrplib
from shopscale.routing.solve import make_data, solve_problem
from tests.routing.conftest import assert_feasible


def test_small_tables_plan_is_feasible(small_problem: Problem) -> None:
    """PyVRP's plan for the two-depot problem passes the checker; only the optional is left."""
    outcome = solve_problem(small_problem, time_limit_s=0.5, seed=0)
    plan = Plan(outcome.routes, dict.fromkeys(outcome.unserved, ""))
    assert_feasible(small_problem, plan)
    assert all(not small_problem.required[i] for i in outcome.unserved)


def test_skills_become_profiles(small_problem: Problem) -> None:
    """Vehicle types with different skills get different distance profiles."""
    data, layout = make_data(small_problem)
    assert data.num_profiles == 2
    assert [vt.profile for vt in data.vehicle_types()] == [0, 1]
    assert len(layout.shipments) == 1


def _brute_force(problem: Problem) -> int:
    """Optimal CVRP cost by splitting every giant tour (obviously correct, tiny only)."""
    pts = problem.coords

    def d(a: int, b: int) -> int:
        return round(math.dist(pts[a], pts[b]))

    cap = problem.vehicles[0].capacity[0]
    best = math.inf
    for perm in itertools.permutations(problem.order_loc.tolist()):
        for cuts in itertools.product([0, 1], repeat=len(perm) - 1):
            routes, cur = [], [perm[0]]
            for loc, cut in zip(perm[1:], cuts, strict=True):
                if cut:
                    routes.append(cur)
                    cur = []
                cur.append(loc)
            routes.append(cur)
            if any(sum(problem.demand[loc - 1, 0] for loc in r) > cap for r in routes):
                continue
            cost = sum(d(0, r[0]) + sum(map(d, r, r[1:])) + d(r[-1], 0) for r in routes)
            best = min(best, cost)
    return int(best)


def test_tiny_vrplib_reaches_optimum(rdata: Path) -> None:
    """The 5-customer VRPLIB file is solved to the brute-force optimum."""
    problem = read_vrplib(rdata / "tiny.vrp")
    outcome = solve_problem(problem, time_limit_s=0.3)
    plan = Plan(outcome.routes)
    assert_feasible(problem, plan)
    assert plan.cost == _brute_force(problem)


def test_warm_start_never_worse(small_problem: Problem) -> None:
    """Starting PyVRP from a plan returns a plan that costs no more."""
    first = solve_problem(small_problem, time_limit_s=0.1, seed=3)
    again = solve_problem(small_problem, time_limit_s=0.2, seed=4, initial=first.routes)
    assert_feasible(small_problem, Plan(again.routes, dict.fromkeys(again.unserved, "")))
    assert sum(r.cost for r in again.routes) <= sum(r.cost for r in first.routes) + sum(
        int(small_problem.prize[i]) for i in first.unserved
    )


def test_subproblem_routes_use_full_indices(small_problem: Problem) -> None:
    """Routes of a sub-problem name orders by their index in the full problem."""
    orders = np.array([0, 2, 3, 8])
    sub = small_problem.subset(orders, (3, 0))
    outcome = solve_problem(sub, time_limit_s=0.1)
    served = sorted(i for r in outcome.routes for i in r.orders())
    assert served == orders.tolist()
