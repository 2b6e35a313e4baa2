"""The independent checker: accepts best-known solutions, catches each kind of violation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import vrplib

from shopscale.routing.check import check_plan
from shopscale.routing.plan import Plan, PlanRoute
from shopscale.routing.problem import Problem
from shopscale.routing.read_vrplib import read_vrplib
from shopscale.routing.solve import solve_problem


def _bks_plan(problem: Problem, sol: Path) -> Plan:
    """A published solution as a plan (customer c of the .sol file is order c - 1)."""
    routes = [
        PlanRoute(0, tuple(("C", c - 1) for c in r), cost=0, distance=0, duration=0, start=0, end=0)
        for r in vrplib.read_solution(str(sol))["routes"]
    ]
    return Plan([replace(r, cost=check_plan(problem, Plan([r])).cost) for r in routes])


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("folder", "name"), [("cvrplib-x", "X-n101-k25"), ("gehring-homberger", "C1_10_1")]
)
def test_bks_solutions_pass_with_published_cost(shared_data: Path, folder: str, name: str) -> None:
    """A best-known solution passes the checker and costs exactly its published value."""
    problem = read_vrplib(shared_data / folder / f"{name}.vrp")
    sol = shared_data / folder / f"{name}.sol"
    plan = _bks_plan(problem, sol)
    report = check_plan(problem, plan)
    assert report.ok, report.violations
    published = vrplib.read_solution(str(sol))["cost"]
    assert report.cost * problem.cost_scale == pytest.approx(published, abs=1e-6)


@pytest.fixture(scope="module")
def solved(small_problem: Problem) -> Plan:
    """A feasible plan of the small problem, straight from PyVRP."""
    outcome = solve_problem(small_problem, time_limit_s=0.5, seed=1)
    plan = Plan(outcome.routes, dict.fromkeys(outcome.unserved, "optional"))
    assert check_plan(small_problem, plan).ok
    return plan


def _violations(problem: Problem, routes: list[PlanRoute]) -> str:
    """All violation messages of a tampered plan, as one string."""
    return "\n".join(check_plan(problem, Plan(routes)).violations)


def test_catches_duplicate_order(small_problem: Problem, solved: Plan) -> None:
    """An order served twice is reported."""
    r0 = solved.routes[0]
    extra = replace(r0, visits=(*r0.visits, r0.visits[0]))
    assert "served 2 times" in _violations(small_problem, [extra, *solved.routes[1:]])


def test_catches_missing_required_order(small_problem: Problem, solved: Plan) -> None:
    """A required order left out is reported."""
    assert "not served" in _violations(small_problem, solved.routes[1:])


def test_catches_skill_and_capacity(small_problem: Problem) -> None:
    """A van carrying a cold order, and a load over capacity, are both reported."""
    cold = small_problem.order_ids.index("o7")
    heavy = tuple(("C", i) for i in range(small_problem.n_orders) if i != 9 and i != 10)
    text = _violations(small_problem, [PlanRoute(0, (("C", cold),), 0, 0, 0, 0, 0)])
    assert "needs missing skills" in text
    assert "leaves the depot with" in _violations(
        small_problem, [PlanRoute(0, heavy, 0, 0, 0, 0, 0)]
    )


def test_catches_delivery_before_pickup(small_problem: Problem) -> None:
    """Delivering a paired order before picking it up is reported."""
    o10 = small_problem.order_ids.index("o10")
    text = _violations(small_problem, [PlanRoute(0, (("D", o10), ("P", o10)), 0, 0, 0, 0, 0)])
    assert "delivered before pickup" in text


def test_catches_time_window(small_problem: Problem) -> None:
    """Arriving after an order's window closes is reported."""
    o2 = small_problem.order_ids.index("o2")  # window ends at 400
    far = tuple(("C", small_problem.order_ids.index(o)) for o in ("o4", "o9", "o3", "o1"))
    slow = replace(small_problem.vehicles[0], shift_start=390)
    problem = replace(small_problem, vehicles=(slow, small_problem.vehicles[1]))
    assert "after its window" in _violations(
        problem, [PlanRoute(0, (*far, ("C", o2)), 0, 0, 0, 0, 0)]
    )


def test_catches_wrong_cost(small_problem: Problem, solved: Plan) -> None:
    """A route whose reported cost differs from its recomputed cost is reported."""
    bad = replace(solved.routes[0], cost=solved.routes[0].cost + 1)
    assert "reported cost" in _violations(small_problem, [bad, *solved.routes[1:]])
