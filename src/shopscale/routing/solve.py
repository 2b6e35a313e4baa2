"""Solve one (sub-)problem with PyVRP, optionally warm-started from known routes.

``ProblemData`` is built from NumPy arrays in one go (one matrix block per profile), never
edge by edge. Skills become PyVRP profiles: a vehicle type only 'sees' the orders it may
serve, every other arrival costs ``FORBIDDEN`` and the checker catches any such route.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyvrp
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

from shopscale.routing.plan import PlanRoute, Visit
from shopscale.routing.problem import UNLIMITED, IntArray, Problem, travel

FORBIDDEN = 1 << 44
"""Distance (PyVRP's MAX_VALUE), divided by the cost scale, of an edge a vehicle's skills
forbid; durations stay real so time-warp penalties cannot overflow."""

_KIND = {
    pyvrp.ActivityType.CLIENT: "C",
    pyvrp.ActivityType.PICKUP: "P",
    pyvrp.ActivityType.DELIVERY: "D",
}


@dataclass(frozen=True)
class Layout:
    """How a sub-problem's orders and vehicle types map onto PyVRP indices."""

    clients: IntArray  # PyVRP client k -> order index in the sub-problem
    shipments: IntArray  # PyVRP shipment k -> order index
    types: IntArray  # PyVRP vehicle type k -> vehicle type index in the problem
    locs: IntArray  # PyVRP location k -> problem location


def _layout(problem: Problem) -> Layout:
    """Depots, then client locations, then (pickup, delivery) location pairs."""
    paired = problem.pickup_loc >= 0
    clients = np.flatnonzero(~paired)
    shipments = np.flatnonzero(paired)
    pairs = np.column_stack([problem.pickup_loc[shipments], problem.order_loc[shipments]])
    locs = np.concatenate(
        [np.arange(problem.n_depots), problem.order_loc[clients], pairs.reshape(-1)]
    ).astype(np.int64)
    types = np.array([t for t, v in enumerate(problem.vehicles) if v.count > 0], dtype=np.int64)
    return Layout(clients, shipments, types, locs)


def _profiles(problem: Problem, layout: Layout) -> tuple[list[int], list[IntArray]]:
    """Profile per vehicle type and, per profile, the activity locations it may not visit."""
    allowed: dict[tuple[bool, ...], int] = {}
    forbidden: list[IntArray] = []
    order_of_loc = np.full(len(layout.locs), -1, dtype=np.int64)
    order_of_loc[problem.n_depots : problem.n_depots + len(layout.clients)] = layout.clients
    order_of_loc[problem.n_depots + len(layout.clients) :] = np.repeat(layout.shipments, 2)
    profile_of_type = []
    for t in layout.types:
        skills = problem.vehicles[t].skills
        ok = tuple(s <= skills for s in problem.skills)
        if ok not in allowed:
            allowed[ok] = len(allowed)
            mask = np.array([o >= 0 and not ok[o] for o in order_of_loc], dtype=bool)
            forbidden.append(np.flatnonzero(mask))
        profile_of_type.append(allowed[ok])
    return profile_of_type, forbidden


def _vehicle_types(problem: Problem, layout: Layout, profiles: list[int]) -> list:
    """PyVRP vehicle types; shift = vehicle shift within the depots' opening hours."""
    out = []
    for k, t in enumerate(layout.types):
        v = problem.vehicles[t]
        reload = [v.start_depot] if v.max_reloads > 0 else []
        out.append(
            pyvrp.VehicleType(
                num_available=v.count,
                capacity=list(v.capacity),
                start_depot=v.start_depot,
                end_depot=v.end_depot,
                fixed_cost=v.fixed_cost,
                tw_early=max(v.shift_start, int(problem.depot_tw[v.start_depot, 0])),
                tw_late=min(v.shift_end, int(problem.depot_tw[v.end_depot, 1])),
                shift_duration=v.max_duration,
                max_distance=v.max_distance,
                unit_distance_cost=v.unit_distance_cost,
                unit_duration_cost=v.unit_duration_cost,
                profile=profiles[k],
                reload_depots=reload,
                max_reloads=v.max_reloads if reload else UNLIMITED,
                name=v.name,
            )
        )
    return out


def _clients(problem: Problem, layout: Layout) -> list[pyvrp.Client]:
    """PyVRP clients: orders delivered from the depot (locations follow the depots)."""
    return [
        pyvrp.Client(
            location=problem.n_depots + k,
            delivery=problem.demand[o].tolist(),
            service_duration=int(problem.service[o]),
            tw_early=int(problem.tw[o, 0]),
            tw_late=int(problem.tw[o, 1]),
            prize=int(problem.prize[o]),
            required=bool(problem.required[o]),
        )
        for k, o in enumerate(layout.clients)
    ]


def _shipments(problem: Problem, layout: Layout) -> list[pyvrp.Shipment]:
    """PyVRP shipments: paired pickup-and-delivery orders (locations after the clients)."""
    first = problem.n_depots + len(layout.clients)
    return [
        pyvrp.Shipment(
            pickup_location=first + 2 * k,
            delivery_location=first + 2 * k + 1,
            pickup_tw_early=int(problem.pickup_tw[o, 0]),
            pickup_tw_late=int(problem.pickup_tw[o, 1]),
            pickup_service_duration=int(problem.pickup_service[o]),
            delivery_tw_early=int(problem.tw[o, 0]),
            delivery_tw_late=int(problem.tw[o, 1]),
            delivery_service_duration=int(problem.service[o]),
            amount=problem.demand[o].tolist(),
            prize=int(problem.prize[o]),
            required=bool(problem.required[o]),
        )
        for k, o in enumerate(layout.shipments)
    ]


def make_data(problem: Problem) -> tuple[pyvrp.ProblemData, Layout]:
    """Build PyVRP ``ProblemData`` for ``problem`` from arrays, with its index layout."""
    layout = _layout(problem)
    dist, dur = travel(problem, layout.locs)
    profiles, forbidden = _profiles(problem, layout)
    dists = []
    for cols in forbidden:
        d = dist.copy() if len(cols) else dist
        d[:, cols] = d[cols, :] = FORBIDDEN // _cost_scale(problem)
        np.fill_diagonal(d, 0)
        dists.append(d)
    durs = [dur] * len(dists)
    locations = [pyvrp.Location(x=float(x), y=float(y)) for x, y in problem.coords[layout.locs]]
    depots = [
        pyvrp.Depot(location=d, tw_early=int(problem.depot_tw[d, 0]), tw_late=int(tw_late))
        for d, tw_late in enumerate(problem.depot_tw[:, 1])
    ]
    clients = _clients(problem, layout)
    shipments = _shipments(problem, layout)
    data = pyvrp.ProblemData(
        locations=locations,
        clients=clients,
        depots=depots,
        vehicle_types=_vehicle_types(problem, layout, profiles),
        distance_matrices=dists,  # type: ignore[arg-type]  # PyVRP stub says ndarray[int]
        duration_matrices=durs,  # type: ignore[arg-type]
        shipments=shipments,
    )
    return data, layout


def _to_activities(route: PlanRoute, local: dict[Visit, pyvrp.Activity]) -> list[pyvrp.Activity]:
    """A warm-start route as PyVRP activities."""
    acts = []
    for kind, idx in route.visits:
        if kind == "R":
            acts.append(pyvrp.Activity(pyvrp.ActivityType.DEPOT, idx))
        else:
            acts.append(local[(kind, idx)])
    return acts


def warm_start(
    problem: Problem, data: pyvrp.ProblemData, layout: Layout, routes: list[PlanRoute]
) -> pyvrp.Solution:
    """A PyVRP ``Solution`` from routes given in the full problem's order indices."""
    a = pyvrp.ActivityType
    origin = problem.origin
    local: dict[Visit, pyvrp.Activity] = {}
    for k, o in enumerate(layout.clients):
        local[("C", int(origin[o]))] = pyvrp.Activity(a.CLIENT, k)
    for k, o in enumerate(layout.shipments):
        local[("P", int(origin[o]))] = pyvrp.Activity(a.PICKUP, k)
        local[("D", int(origin[o]))] = pyvrp.Activity(a.DELIVERY, k)
    type_of = {int(t): k for k, t in enumerate(layout.types)}
    pv_routes = [
        pyvrp.Route(data, _to_activities(r, local), type_of[r.vehicle_type]) for r in routes
    ]
    return pyvrp.Solution(data, pv_routes)


def _route(problem: Problem, layout: Layout, route: pyvrp.Route) -> PlanRoute:
    """A PyVRP route in the full problem's order and vehicle-type indices."""
    schedule = list(route.schedule())[1:-1]  # drop start and end depot
    visits: list[Visit] = []
    times = []
    for act in schedule:
        if act.type == pyvrp.ActivityType.DEPOT:
            visits.append(("R", int(act.idx)))
        else:
            kind = _KIND[act.type]
            order = layout.clients[act.idx] if kind == "C" else layout.shipments[act.idx]
            visits.append((kind, int(problem.origin[order])))
        times.append((int(act.start_time - act.wait_duration), int(act.end_time)))
    return PlanRoute(
        vehicle_type=int(layout.types[route.vehicle_type()]),
        visits=tuple(visits),
        cost=int(route.distance_cost() + route.duration_cost() + route.fixed_vehicle_cost()),
        distance=int(route.distance()),
        duration=int(route.duration()),
        start=int(route.start_time()),
        end=int(route.end_time()),
        times=tuple(times),
    )


def _trimmed(data: pyvrp.ProblemData, route: pyvrp.Route) -> pyvrp.Route | None:
    """The route with every stop it cannot make dropped (greedily, in visit order), or
    ``None`` when even that is infeasible."""
    kept: list[pyvrp.Activity] = []
    for visit in list(route.schedule())[1:-1]:
        act = pyvrp.Activity(visit.type, visit.idx)
        if act.is_delivery() and not any(k.is_pickup() and k.idx == act.idx for k in kept):
            continue  # its pickup was dropped
        trial = pyvrp.Route(data, [*kept, act], route.vehicle_type())
        if trial.is_feasible() or act.is_pickup():  # a pickup is judged with its delivery
            kept.append(act)
        elif act.is_delivery():  # cannot deliver: drop the pickup too
            kept = [k for k in kept if not (k.is_pickup() and k.idx == act.idx)]
    delivered = {k.idx for k in kept if k.is_delivery()}
    kept = [k for k in kept if not k.is_pickup() or k.idx in delivered]
    done = pyvrp.Route(data, kept, route.vehicle_type())
    return done if done.is_feasible() and (done.num_clients() or done.num_shipments()) else None


def _repair(data: pyvrp.ProblemData, routes: list[pyvrp.Route]) -> list[pyvrp.Route]:
    """A feasible plan from PyVRP's best infeasible one: stops that break a route are left
    unserved (and reported with their ids) instead of a plan that breaks its windows."""
    out = []
    for route in routes:
        fixed = route if route.is_feasible() else _trimmed(data, route)
        if fixed is not None:
            out.append(fixed)
    return out


def _cost_scale(problem: Problem) -> int:
    """Largest unit cost of the fleet (1 for VRPLIB, ~1000 for tables in micro-currency)."""
    units = [max(v.unit_distance_cost, v.unit_duration_cost, 1) for v in problem.vehicles]
    return max(units, default=1)


def _solve_params(problem: Problem) -> pyvrp.SolveParams:
    """PyVRP's penalty bounds assume unit costs near 1; scale them with ours."""
    scale = float(_cost_scale(problem))
    penalty = pyvrp.PenaltyParams(min_penalty=0.1 * scale, max_penalty=100_000.0 * scale)
    return pyvrp.SolveParams(penalty=penalty)


@dataclass(frozen=True)
class SolveOutcome:
    """Routes found for one sub-problem, the orders left out, and the solver's effort."""

    routes: list[PlanRoute]
    unserved: list[int]
    feasible: bool
    iterations: int


def solve_problem(
    problem: Problem,
    *,
    time_limit_s: float,
    seed: int = 0,
    initial: list[PlanRoute] | None = None,
    deadline: float | None = None,
    max_iterations: int | None = None,
) -> SolveOutcome:
    """Run PyVRP on ``problem`` for ``time_limit_s`` seconds (and not past the wall-clock
    ``deadline``, when given); routes use full-problem indices."""
    data, layout = make_data(problem)
    init = warm_start(problem, data, layout, initial) if initial else None
    if deadline is not None:
        time_limit_s = max(0.0, min(time_limit_s, deadline - time.time()))
    result = pyvrp.solve(
        data,
        stop=(
            MaxRuntime(time_limit_s)
            if max_iterations is None
            else MultipleCriteria([MaxRuntime(time_limit_s), MaxIterations(max_iterations)])
        ),
        seed=seed,
        collect_stats=False,
        display=False,
        params=_solve_params(problem),
        initial_solution=init,
    )
    best = result.best
    if not best.is_feasible() and init is not None and init.is_feasible():
        best = init
    pv_routes = best.routes() if best.is_feasible() else _repair(data, best.routes())
    routes = [_route(problem, layout, r) for r in pv_routes]
    served = {i for r in routes for i in r.orders()}
    unserved = [int(o) for o in problem.origin if int(o) not in served]
    return SolveOutcome(routes, unserved, bool(best.is_feasible()), int(result.num_iterations))
