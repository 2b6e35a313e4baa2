"""The spark engine: sub-problems run as Spark tasks and the plan passes the same checker."""

from __future__ import annotations

import pytest

from shopscale.routing.merge import objective
from shopscale.routing.params import RoutingParams
from shopscale.routing.plan import Plan
from shopscale.routing.problem import Problem
from shopscale.routing.run import _initial, _round
from shopscale.routing.spark_tasks import SparkRunner
from tests.routing.conftest import assert_feasible

# every Spark test runs on one worker, one after the other (two JVMs at once starve 2 cores)
pytestmark = pytest.mark.xdist_group("spark")

ROUND_LEFT_S = 600.0
"""Time left handed to the improvement round: it always runs, whatever the machine's load (its
solver time comes from the params, not from what is left)."""


@pytest.mark.spark
@pytest.mark.parametrize("whole_start_max_orders", [0, 5000], ids=["split-start", "whole-start"])
def test_spark_engine_plan_passes_checker(
    small_problem: Problem, whole_start_max_orders: int
) -> None:
    """A decomposed plan solved as Spark tasks on local[2] serves every required order, from
    a geographic split or from whole-instance solves (one Spark task per seed), and so does
    the plan after one improvement round (warm-started tasks) on Spark."""
    params = RoutingParams(
        time_limit_s=8.0,
        engine="spark",
        whole_max_orders=1,
        whole_start_max_orders=whole_start_max_orders,
        subproblem_size=10,
    )
    runner = SparkRunner("local[2]")
    initial = _initial(small_problem, params, runner)
    assert_feasible(small_problem, initial)
    improved = _round(small_problem, initial, params, runner, 1, ROUND_LEFT_S)
    assert improved is not None  # exactly one round, by count rather than by the clock
    assert_feasible(small_problem, improved[0])
    assert _objective(small_problem, improved[0]) <= _objective(small_problem, initial)


def _objective(problem: Problem, plan: Plan) -> int:
    """What the rounds minimise: cost, prizes and the unserved penalty."""
    return objective(problem, plan.routes, list(plan.unserved))
