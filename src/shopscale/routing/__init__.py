"""Delivery routes: read orders/fleet/depots or VRPLIB, decompose, solve with PyVRP, check.

The public surface: ``read_problem`` -> ``plan_routes`` (or ``plan_job`` for files in and out)
-> ``check_plan``. Everything else is an implementation module.
"""

from shopscale.routing.check import CheckReport, check_plan
from shopscale.routing.job import plan_job, read_problem
from shopscale.routing.params import RoutingParams
from shopscale.routing.plan import Plan, PlanRoute
from shopscale.routing.problem import Problem, VehicleSpec
from shopscale.routing.run import Progress, plan_routes

__all__ = [
    "CheckReport",
    "Plan",
    "PlanRoute",
    "Problem",
    "Progress",
    "RoutingParams",
    "VehicleSpec",
    "check_plan",
    "plan_job",
    "plan_routes",
    "read_problem",
]
