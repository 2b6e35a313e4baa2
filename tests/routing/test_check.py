"""The independent checker: accepts best-known solutions, catches each kind of violation."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import vrplib
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.routing.check import check_plan
from shopscale.routing.plan import Plan, PlanRoute
from shopscale.routing.problem import Problem
from shopscale.routing.read_vrplib import read_vrplib
from shopscale.routing.solve import solve_problem
from tests.routing.strategies import problems, tampered_plans


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


def _coverage_faults(problem: Problem, routes: list[list[tuple[str, int]]]) -> set[str]:
    """Orders whose visits break coverage, by plain counting (the obviously correct model)."""
    faults = set()
    for i, order in enumerate(problem.order_ids):
        seen = [(kind, r, k) for r, route in enumerate(routes) for k, (kind, j) in enumerate(route)]
        seen = [(kind, r, k) for kind, r, k in seen if routes[r][k][1] == i]
        picks = [(r, k) for kind, r, k in seen if kind == "P"]
        drops = [(r, k) for kind, r, k in seen if kind in ("C", "D")]
        bad = len(picks) > 1 or len(drops) > 1 or (problem.required[i] and not drops)
        if problem.pickup_loc[i] >= 0:
            bad |= len(picks) != len(drops)
            bad |= len(picks) == len(drops) == 1 and (
                picks[0][0] != drops[0][0] or picks[0][1] > drops[0][1]
            )
        if bad:
            faults.add(order)
    return faults


COVERAGE = re.compile(r"order (\S+) (?:picked up|delivered|served|not served)")


@settings(max_examples=60, deadline=None)
@given(data=st.data(), problem=problems(max_orders=8))
def test_coverage_matches_plain_count(data: st.DataObject, problem: Problem) -> None:
    """Each order is reported for coverage exactly when a plain count of its pickups and
    deliveries says it is missing, repeated, split over routes or delivered first, whether it
    is required or optional."""
    optional = np.asarray(data.draw(st.lists(st.booleans(), min_size=8, max_size=8)))
    problem = replace(problem, required=~optional[: problem.n_orders])
    routes = data.draw(tampered_plans(problem))
    plan = Plan([PlanRoute(0, tuple(r), 0, 0, 0, 0, 0) for r in routes])
    found = (COVERAGE.search(v) for v in check_plan(problem, plan).violations)
    reported = {m.group(1) for m in found if m}
    assert reported == _coverage_faults(problem, routes)


def _optional_pair(problem: Problem) -> tuple[Problem, int]:
    """``problem`` with its pickup-and-delivery order o10 made optional (a prize)."""
    o10 = problem.order_ids.index("o10")
    prize = problem.prize.copy()
    prize[o10] = 50
    return replace(problem, prize=prize, required=prize == 0), o10


def test_catches_optional_pickup_never_delivered(small_problem: Problem, solved: Plan) -> None:
    """An optional order picked up but never delivered is reported, naming its id."""
    problem, o10 = _optional_pair(small_problem)
    kept = [replace(r, visits=tuple(v for v in r.visits if v != ("D", o10))) for r in solved.routes]
    assert "order o10 picked up on route" in _violations(problem, kept)
    assert "but never delivered" in _violations(problem, kept)


def test_catches_optional_pickup_twice(small_problem: Problem, solved: Plan) -> None:
    """An optional order picked up twice (delivered once) is reported."""
    problem, o10 = _optional_pair(small_problem)
    twice = [
        replace(r, visits=(("P", o10), *r.visits)) if ("P", o10) in r.visits else r
        for r in solved.routes
    ]
    assert "order o10 picked up 2 times" in _violations(problem, twice)


def test_messages_name_orders_and_file_units(small_problem: Problem) -> None:
    """A missed window is reported with the order id and times in seconds, not indices."""
    o2 = small_problem.order_ids.index("o2")  # window ends at 400
    late = replace(small_problem.vehicles[0], shift_start=1000)
    problem = replace(small_problem, vehicles=(late, small_problem.vehicles[1]))
    text = _violations(problem, [PlanRoute(0, (("C", o2),), 0, 0, 0, 0, 0)])
    assert "(delivery of order o2) starts at 1017 s (00:16:57) after its window ends at " in text
    assert "400 s (00:06:40)" in text
