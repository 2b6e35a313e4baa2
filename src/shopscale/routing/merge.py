"""Reduce step: merge sub-problem results into one plan and improve it across borders.

Improvement follows route-based decomposition (Santini, Schneider, Vidal and Vigo, INFORMS
J. Computing 2023): cluster the routes of the current plan by their barycentres around new
centres each round, and re-solve each cluster of routes as a sub-problem warm-started from
those routes. A cluster's new routes replace the old ones only if they are not worse.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.cluster.vq import kmeans2

from shopscale.routing.partition import apportion
from shopscale.routing.plan import Plan, PlanRoute
from shopscale.routing.problem import IntArray, Problem, eligible_types, planar
from shopscale.routing.solve import SolveOutcome

UNSERVED_PENALTY = 1 << 40
"""Objective weight of a required order left unserved (far above any route cost)."""


@dataclass(frozen=True)
class RoutePiece:
    """A cluster of routes to re-optimise: its orders, vehicles per type, warm start."""

    orders: IntArray
    counts: tuple[int, ...]
    routes: list[PlanRoute]


def objective(problem: Problem, routes: list[PlanRoute], unserved: list[int]) -> int:
    """Route cost plus uncollected prizes plus a large penalty per unserved required order."""
    missed = np.asarray(unserved, dtype=np.int64)
    penalty = int(problem.prize[missed].sum()) if len(missed) else 0
    penalty += UNSERVED_PENALTY * int(problem.required[missed].sum()) if len(missed) else 0
    return sum(r.cost for r in routes) + penalty


def reason(problem: Problem, order: int) -> str:
    """Why an order is unserved, for summary.json."""
    if problem.required[order]:
        return "required but no feasible route found within the time limit"
    return "optional: its prize does not pay for the detour"


def merge(problem: Problem, outcomes: list[SolveOutcome]) -> Plan:
    """One plan from the routes and leftovers of disjoint sub-problems."""
    routes = [r for o in outcomes for r in o.routes]
    unserved = sorted(i for o in outcomes for i in o.unserved)
    return Plan(routes=routes, unserved={i: reason(problem, i) for i in unserved})


def _barycentres(problem: Problem, routes: list[PlanRoute]) -> np.ndarray:
    """Planar barycentre of each route's orders."""
    points = planar(problem, problem.order_loc)
    return np.array([points[r.orders()].mean(axis=0) for r in routes])


def regroup(problem: Problem, plan: Plan, *, size: int, seed: int) -> list[RoutePiece]:
    """Cluster the plan's routes by barycentre into pieces of about ``size`` orders.

    Unserved orders join the piece with the nearest centre; spare vehicles (count minus
    routes in use) are shared out in proportion to the orders of each piece.
    """
    routes = plan.routes
    if not routes:  # nothing served yet: one piece with every order and the whole fleet
        counts = tuple(v.count for v in problem.vehicles)
        return [RoutePiece(np.asarray(sorted(plan.unserved), dtype=np.int64), counts, [])]
    n_orders = sum(len(r.orders()) for r in routes) + len(plan.unserved)
    k = max(1, min(len(routes), math.ceil(n_orders / size)))
    centres = _barycentres(problem, routes)
    if k > 1:
        rng = np.random.default_rng(seed)
        jitter = rng.normal(scale=1e-6, size=centres.shape)  # distinct ties per round
        with warnings.catch_warnings():  # an empty cluster is fine: it is dropped below
            warnings.simplefilter("ignore")
            centroids, labels = kmeans2(centres + jitter, k, seed=seed, minit="++", iter=10)
    else:
        centroids, labels = centres.mean(axis=0, keepdims=True), np.zeros(len(routes), int)
    members = [np.flatnonzero(labels == c) for c in range(len(centroids))]
    keep = [c for c, m in enumerate(members) if len(m)]
    extra: dict[int, list[int]] = {c: [] for c in keep}
    if plan.unserved:
        points = planar(problem, problem.order_loc)
        eligible = eligible_types(problem)
        for i in plan.unserved:
            gap = ((centroids[keep] - points[i]) ** 2).sum(axis=1)
            able = [any(eligible[i, routes[r].vehicle_type] for r in members[c]) for c in keep]
            if any(able):  # prefer a piece with a route that could take the order
                gap = np.where(able, gap, np.inf)
            extra[keep[int(np.argmin(gap))]].append(i)
    return _pieces(problem, routes, members, keep, extra)


def _pieces(
    problem: Problem,
    routes: list[PlanRoute],
    members: list[IntArray],
    keep: list[int],
    extra: dict[int, list[int]],
) -> list[RoutePiece]:
    """Turn route clusters into pieces with fleet counts that add up to the fleet."""
    n_types = len(problem.vehicles)
    used = np.zeros((len(keep), n_types), dtype=np.int64)
    sizes = np.zeros(len(keep))
    for p, c in enumerate(keep):
        for r in members[c]:
            used[p, routes[r].vehicle_type] += 1
        sizes[p] = sum(len(routes[r].orders()) for r in members[c]) + len(extra[c])
    spare = np.array([v.count for v in problem.vehicles]) - used.sum(axis=0)
    counts = used.copy()
    for t in range(n_types):
        counts[:, t] += apportion(int(spare[t]), sizes)
    out = []
    for p, c in enumerate(keep):
        piece_routes = [routes[r] for r in members[c]]
        orders = [i for r in piece_routes for i in r.orders()] + extra[c]
        out.append(
            RoutePiece(np.asarray(orders, dtype=np.int64), tuple(counts[p].tolist()), piece_routes)
        )
    return out


def improve(
    problem: Problem, pieces: list[RoutePiece], outcomes: list[SolveOutcome]
) -> tuple[Plan, int]:
    """Keep each piece's new routes when they are no worse; returns the plan and its gain."""
    routes: list[PlanRoute] = []
    unserved: list[int] = []
    gain = 0
    for piece, outcome in zip(pieces, outcomes, strict=True):
        served_before = {i for r in piece.routes for i in r.orders()}
        before_unserved = [int(i) for i in piece.orders if int(i) not in served_before]
        before = objective(problem, piece.routes, before_unserved)
        after = objective(problem, outcome.routes, outcome.unserved)
        if after <= before:
            routes += outcome.routes
            unserved += outcome.unserved
            gain += before - after
        else:
            routes += piece.routes
            unserved += before_unserved
    plan = Plan(routes=routes, unserved={i: reason(problem, i) for i in sorted(unserved)})
    return plan, gain
