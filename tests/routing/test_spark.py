"""The spark engine: sub-problems run as Spark tasks and the plan passes the same checker."""

from __future__ import annotations

import pytest

from shopscale.routing.params import RoutingParams
from shopscale.routing.problem import Problem
from shopscale.routing.run import plan_routes
from shopscale.routing.spark_tasks import SparkRunner
from tests.routing.conftest import assert_feasible


@pytest.mark.spark
def test_spark_engine_plan_passes_checker(small_problem: Problem) -> None:
    """A decomposed plan solved as Spark tasks on local[2] serves every required order."""
    params = RoutingParams(
        time_limit_s=8.0,
        engine="spark",
        whole_max_orders=1,
        whole_start_max_orders=0,
        subproblem_size=10,
    )
    runner = SparkRunner("local[2]")
    plan = plan_routes(small_problem, params, runner=runner)
    assert_feasible(small_problem, plan)
    assert len(plan.history) >= 2  # the initial solve and at least one improvement round
