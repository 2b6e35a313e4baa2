"""Orchestration: whole and decomposed runs give plans that pass the independent checker."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from shopscale.routing.params import RoutingParams, parse_duration
from shopscale.routing.plan import Plan
from shopscale.routing.problem import Problem
from shopscale.routing.read_vrplib import read_vrplib
from shopscale.routing.run import Progress, best_plan, plan_routes
from shopscale.routing.tasks import LocalRunner
from tests.routing.conftest import assert_feasible
from tests.routing.strategies import problems


@given(problem=problems(max_orders=40))
@settings(max_examples=6, deadline=None)
def test_every_decomposed_plan_passes_checker(problem: Problem, runner: LocalRunner) -> None:
    """Forced decomposition (pieces of 10) of random problems always yields a checked plan."""
    params = RoutingParams(
        time_limit_s=1.0, whole_max_orders=1, whole_start_max_orders=0, subproblem_size=10
    )
    plan = plan_routes(problem, params, runner=runner)
    assert_feasible(problem, plan)


@given(problem=problems(max_orders=40))
@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_whole_start_plan_passes_checker(
    problem: Problem, runner: LocalRunner, caplog: pytest.LogCaptureFixture
) -> None:
    """Mid-size instances start from whole solves (one per worker), then improve in rounds."""
    seen: list[Progress] = []
    params = RoutingParams(time_limit_s=1.5, whole_max_orders=1, subproblem_size=10)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="shopscale"):
        plan = plan_routes(problem, params, runner=runner, on_progress=seen.append)
    assert_feasible(problem, plan)
    assert "whole-instance start: 2 solves" in caplog.text
    assert seen[0].phase == "initial"
    costs = [p.best_cost + 10**12 * p.unserved for p in seen]
    assert costs == sorted(costs, reverse=True)


def test_best_plan_is_lowest_objective(small_problem: Problem, runner: LocalRunner) -> None:
    """An unserved required order outweighs any route cost; equal plans keep the first."""
    routes = plan_routes(small_problem, RoutingParams(time_limit_s=1.0), runner=runner).routes
    full = Plan(routes=list(routes))
    dropped = next(r for r in routes if small_problem.required[r.orders()].any())
    cheaper = Plan(
        routes=[r for r in routes if r is not dropped],
        unserved=dict.fromkeys(dropped.orders(), "dropped"),
    )
    assert cheaper.cost < full.cost
    assert best_plan(small_problem, [cheaper, full]) is full
    twin = Plan(routes=list(routes))
    assert best_plan(small_problem, [full, twin]) is full


def test_progress_reports_rounds(small_problem: Problem, runner: LocalRunner) -> None:
    """A decomposed run reports the initial phase then improvement rounds, cost never rising."""
    seen: list[Progress] = []
    params = RoutingParams(
        time_limit_s=3.0, whole_max_orders=1, whole_start_max_orders=0, subproblem_size=10
    )
    plan = plan_routes(small_problem, params, runner=runner, on_progress=seen.append)
    assert_feasible(small_problem, plan)
    assert seen[0].phase == "initial"
    assert [p.round for p in seen[1:]] == list(range(1, len(seen)))
    costs = [p.best_cost + 10**12 * p.unserved for p in seen]
    assert costs == sorted(costs, reverse=True)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("partitioner", ["kmeans", "sweep"])
def test_decomposition_quality_band(
    shared_data: Path, runner: LocalRunner, partitioner: str
) -> None:
    """Decomposed into pieces of ~35 orders, X-n101-k25 ends within 6% of its best-known 27591."""
    problem = read_vrplib(shared_data / "cvrplib-x" / "X-n101-k25.vrp")
    params = RoutingParams(
        time_limit_s=8.0,
        whole_max_orders=50,
        whole_start_max_orders=0,
        subproblem_size=35,
        partitioner=partitioner,
    )
    plan = plan_routes(problem, params, runner=runner)
    assert_feasible(problem, plan)
    assert plan.cost <= 1.06 * 27591


def test_params_validate() -> None:
    """Bad parameter values and durations are rejected with the field named."""
    with pytest.raises(ValueError, match="time_limit_s"):
        RoutingParams(time_limit_s=0)
    with pytest.raises(ValueError, match="whole_start_max_orders"):
        RoutingParams(whole_start_max_orders=-1)
    assert parse_duration("10m") == 600
    assert parse_duration("2h") == 7200
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("ten minutes")
