"""An independent feasibility checker: its own schedule, load and cost arithmetic, no PyVRP.

It re-derives every route from the problem's data and reports each violated constraint:
orders served once, capacities per trip, time windows, shifts, duration and distance limits,
skills, pickup before delivery on the same route, fleet size, and the reported cost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from shopscale.routing.plan import KIND_NAMES, Plan, PlanRoute
from shopscale.routing.problem import Problem, travel_pairs
from shopscale.routing.units import amount_text, distance_text, span_text, time_text

MAX_LISTED = 50


@dataclass
class CheckReport:
    """The checker's verdict: violations (empty when feasible) and the recomputed totals."""

    violations: list[str] = field(default_factory=list)
    cost: int = 0
    distance: int = 0
    routes: int = 0

    @property
    def ok(self) -> bool:
        """Whether the plan satisfies every constraint."""
        return not self.violations


def _locations(problem: Problem, route: PlanRoute) -> np.ndarray:
    """Problem location of each stop, with the start and end depots around them."""
    vehicle = problem.vehicles[route.vehicle_type]
    locs = [vehicle.start_depot]
    for kind, idx in route.visits:
        if kind == "R":
            locs.append(idx)
        elif kind == "P":
            locs.append(int(problem.pickup_loc[idx]))
        else:
            locs.append(int(problem.order_loc[idx]))
    locs.append(vehicle.end_depot)
    return np.asarray(locs, dtype=np.int64)


def _window(problem: Problem, kind: str, idx: int) -> tuple[int, int, int]:
    """``(earliest, latest, service)`` of one stop."""
    if kind == "R":
        return int(problem.depot_tw[idx, 0]), int(problem.depot_tw[idx, 1]), 0
    if kind == "P":
        early, late = problem.pickup_tw[idx]
        return int(early), int(late), int(problem.pickup_service[idx])
    early, late = problem.tw[idx]
    return int(early), int(late), int(problem.service[idx])


def _check_loads(problem: Problem, route: PlanRoute, name: str, out: list[str]) -> None:
    """Load on board never exceeds capacity, trip by trip; reloads happen at the start depot."""
    vehicle = problem.vehicles[route.vehicle_type]
    capacity = np.asarray(vehicle.capacity, dtype=np.int64)
    trips: list[list[tuple[str, int]]] = [[]]
    for kind, idx in route.visits:
        if kind == "R":
            if idx != vehicle.start_depot:
                out.append(f"{name}: reload at depot {problem.depot_ids[idx]}, not its own depot")
            trips.append([])
        else:
            trips[-1].append((kind, idx))
    if len(trips) - 1 > vehicle.max_reloads:
        out.append(f"{name}: {len(trips) - 1} reloads, at most {vehicle.max_reloads} allowed")
    for trip in trips:
        load = sum((problem.demand[i] for k, i in trip if k == "C"), np.zeros_like(capacity))
        if (load > capacity).any():
            out.append(
                f"{name}: leaves the depot with {amount_text(load)} > capacity "
                f"{amount_text(capacity)}"
            )
        for kind, idx in trip:
            load = load + problem.demand[idx] if kind == "P" else load - problem.demand[idx]
            if (load > capacity).any():
                out.append(
                    f"{name}: load {amount_text(load)} > capacity {amount_text(capacity)} "
                    f"after the {KIND_NAMES[kind]} of order {problem.order_ids[idx]}"
                )


def _stop_name(problem: Problem, visit: tuple[str, int]) -> str:
    """A stop as the user knows it: ``delivery of order o2`` or ``reload at depot D1``."""
    kind, idx = visit
    if kind == "R":
        return f"reload at depot {problem.depot_ids[idx]}"
    return f"{KIND_NAMES[kind]} of order {problem.order_ids[idx]}"


def _check_times(problem: Problem, route: PlanRoute, name: str, out: list[str]) -> tuple[int, int]:
    """Earliest schedule meets every window and the shift; returns (distance, min duration)."""
    vehicle = problem.vehicles[route.vehicle_type]
    locs = _locations(problem, route)
    dist, dur = travel_pairs(problem, locs[:-1], locs[1:])
    start = max(vehicle.shift_start, int(problem.depot_tw[vehicle.start_depot, 0]))
    windows = [_window(problem, kind, idx) for kind, idx in route.visits]
    t = start
    for k, (early, late, service) in enumerate(windows):
        t = max(t + int(dur[k]), early)
        if t > late:
            out.append(
                f"{name}: stop {k + 1} ({_stop_name(problem, route.visits[k])}) starts at "
                f"{time_text(problem, t)} after its window ends at {time_text(problem, late)}"
            )
        t += service
    end = t + int(dur[-1])
    latest_end = min(vehicle.shift_end, int(problem.depot_tw[vehicle.end_depot, 1]))
    if end > latest_end:
        out.append(
            f"{name}: returns at {time_text(problem, end)} after the shift/depot closing "
            f"{time_text(problem, latest_end)}"
        )
    latest = end - int(dur[-1])  # latest start of service-end at the last stop
    for k in range(len(windows) - 1, -1, -1):
        early, late, service = windows[k]
        latest = min(late, latest - service) - int(dur[k])
    duration = end - max(start, min(latest, latest_end))
    if duration > vehicle.max_duration:
        out.append(
            f"{name}: duration {span_text(problem, duration)} > max_duration "
            f"{span_text(problem, vehicle.max_duration)}"
        )
    distance = int(dist.sum())
    if distance > vehicle.max_distance:
        out.append(
            f"{name}: distance {distance_text(problem, distance)} > max_distance "
            f"{distance_text(problem, vehicle.max_distance)}"
        )
    return distance, duration


def _visits_by_order(plan: Plan) -> dict[int, list[tuple[str, int, int]]]:
    """Every ``(kind, route, position)`` at which each order is visited (reloads left out)."""
    out: dict[int, list[tuple[str, int, int]]] = {}
    for r, route in enumerate(plan.routes, start=1):
        for k, (kind, idx) in enumerate(route.visits):
            if kind != "R":
                out.setdefault(idx, []).append((kind, r, k))
    return out


def _check_pair(order: str, visits: list[tuple[str, int, int]], out: list[str]) -> int:
    """A paired order: picked up and delivered at most once, both or neither, on one route,
    pickup first. Returns how many times the order counts as served (deliveries)."""
    picks = [(r, k) for kind, r, k in visits if kind == "P"]
    drops = [(r, k) for kind, r, k in visits if kind == "D"]
    if len(picks) > 1:
        out.append(f"order {order} picked up {len(picks)} times")
    if picks and not drops:
        out.append(f"order {order} picked up on route {picks[0][0]} but never delivered")
    if drops and not picks:
        out.append(f"order {order} delivered on route {drops[0][0]} but never picked up")
    if len(picks) == 1 and len(drops) == 1:
        (rp, kp), (rd, kd) = picks[0], drops[0]
        if rp != rd:
            out.append(f"order {order} picked up on route {rp} but delivered on route {rd}")
        elif kd < kp:
            out.append(f"route {rd}: order {order} delivered before pickup")
    return len(drops)


def _check_coverage(problem: Problem, plan: Plan, out: list[str]) -> None:
    """Required orders once, optional at most once; a paired order's pickup and delivery
    both or neither, once each, pickup first on one route; skills of the vehicle."""
    visits = _visits_by_order(plan)
    for i, order in enumerate(problem.order_ids):
        mine = visits.get(i, [])
        paired = bool(problem.pickup_loc[i] >= 0)
        for kind, r, _ in mine:
            if paired and kind == "C":
                out.append(f"route {r}: order {order} has a pickup but is visited without one")
            elif not paired and kind != "C":
                out.append(f"route {r}: order {order} has no pickup but is visited as a pair")
            needs = problem.skills[i] - problem.vehicles[plan.routes[r - 1].vehicle_type].skills
            if needs:
                out.append(f"route {r}: order {order} needs missing skills {sorted(needs)}")
        plain = sum(kind == "C" for kind, _, _ in mine)
        times = _check_pair(order, mine, out) if paired else plain
        if times > 1:
            out.append(f"order {order} served {times} times")
        if times == 0 and problem.required[i]:
            out.append(f"required order {order} not served")


def check_plan(problem: Problem, plan: Plan, *, reported_cost: int | None = None) -> CheckReport:
    """Check every constraint of ``plan`` against ``problem``; recompute its cost."""
    report = CheckReport(routes=len(plan.routes))
    out = report.violations
    _check_coverage(problem, plan, out)
    used = Counter(route.vehicle_type for route in plan.routes)
    for t, n in used.items():
        if n > problem.vehicles[t].count:
            out.append(f"vehicle type {problem.vehicles[t].name}: {n} routes > count")
    for r, route in enumerate(plan.routes, start=1):
        name = f"route {r} ({problem.vehicles[route.vehicle_type].name})"
        _check_loads(problem, route, name, out)
        distance, duration = _check_times(problem, route, name, out)
        vehicle = problem.vehicles[route.vehicle_type]
        cost = (
            vehicle.fixed_cost
            + vehicle.unit_distance_cost * distance
            + vehicle.unit_duration_cost * duration
        )
        report.cost += cost
        report.distance += distance
        if cost != route.cost:
            out.append(f"{name}: reported cost {route.cost} but the route costs {cost}")
    claimed = plan.cost if reported_cost is None else reported_cost
    if claimed != report.cost:
        out.append(f"reported total cost {claimed} but the routes cost {report.cost}")
    del out[MAX_LISTED:]
    return report
