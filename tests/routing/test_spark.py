"""The spark engine: sub-problems run as Spark tasks and the plan passes the same checker."""

from __future__ import annotations

import pytest

from shopscale.routing.params import RoutingParams
from shopscale.routing.problem import Problem
from shopscale.routing.run import plan_routes
from shopscale.routing.spark_tasks import SparkRunner
from tests.routing.conftest import assert_feasible


def _import_solver(_: int) -> bool:
    """Import the solver in a Spark Python worker (what the first real task would pay)."""
    import shopscale.routing.solve  # noqa: F401

    return True


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
    # start the Python workers (and their PyVRP import) before the clock starts: the assertion
    # below is about rounds, and a loaded machine must not spend the budget on worker start-up
    warm = runner._spark.sparkContext.parallelize([0, 1], 2)
    assert warm.map(_import_solver).collect() == [True, True]
    plan = plan_routes(small_problem, params, runner=runner)
    assert_feasible(small_problem, plan)
    assert len(plan.history) >= 2  # the initial solve and at least one improvement round
