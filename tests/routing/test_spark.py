"""The spark engine: sub-problems run as Spark tasks and the plan passes the same checker."""

from __future__ import annotations

import pytest

from shopscale.routing.params import RoutingParams
from shopscale.routing.problem import Problem
from shopscale.routing.run import plan_routes
from shopscale.routing.spark_tasks import SparkRunner
from tests.routing.conftest import assert_feasible


@pytest.mark.spark
@pytest.mark.parametrize("whole_start_max_orders", [0, 5000], ids=["split-start", "whole-start"])
def test_spark_engine_plan_passes_checker(
    small_problem: Problem, whole_start_max_orders: int
) -> None:
    """A decomposed plan solved as Spark tasks on local[2] serves every required order, from
    a geographic split or from whole-instance solves (one Spark task per seed)."""
    params = RoutingParams(
        time_limit_s=8.0,
        engine="spark",
        whole_max_orders=1,
        whole_start_max_orders=whole_start_max_orders,
        subproblem_size=10,
    )
    runner = SparkRunner("local[2]")
    plan = plan_routes(small_problem, params, runner=runner)
    assert_feasible(small_problem, plan)
    assert len(plan.history) >= 2  # the initial solve and at least one improvement round
