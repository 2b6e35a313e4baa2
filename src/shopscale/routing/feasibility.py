"""Infeasibility that can be known before solving, reported with order ids and file units.

A solve cannot serve an order that no vehicle type can carry, reach within its window, or
bring back before the shift and depot close, nor more demand than the fleet can carry; such
input used to be solved for the whole time limit and then reported with internal indices.
Here each order is tried alone on each vehicle type (the direct trip depot -> [pickup ->]
order -> depot: with travel that satisfies the triangle inequality no route reaches an order
sooner, and explicit matrices use shortest paths from and to the depots), and required
demand is compared with what each group of vehicle types can carry (every trip full).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shopscale.errors import InputError
from shopscale.routing.problem import UNLIMITED, IntArray, Problem, VehicleSpec, travel_pairs
from shopscale.routing.rows import RowError
from shopscale.routing.units import amount_text, distance_text, span_text, time_text

Failures = tuple[NDArray[np.bool_], list[str]]
"""Orders failing one constraint, and the reason for each."""

MAX_SUBSET_TYPES = 10
"""Up to this many vehicle types every group of types is compared with its orders' demand."""


@dataclass(frozen=True)
class Verdict:
    """Which vehicle types could serve each order alone, and why the others cannot."""

    ok: NDArray[np.bool_]  # [order, vehicle type]
    why: dict[tuple[int, int], str]  # (order, type) -> the first reason it cannot


def _legs(problem: Problem, src: IntArray, dst: IntArray) -> tuple[IntArray, IntArray]:
    """Least distance and duration from ``src`` to ``dst`` (shortest paths for a matrix)."""
    if problem.matrix is None:
        return travel_pairs(problem, src, dst)
    from scipy.sparse.csgraph import csgraph_from_dense, shortest_path

    out = []
    for m in problem.matrix:
        starts, back = np.unique(src, return_inverse=True)
        graph = csgraph_from_dense(m.astype(float), null_value=np.inf)  # zero = free, not absent
        best = shortest_path(graph, indices=starts)
        out.append(best[back, dst].astype(np.int64))
    return out[0], out[1]


@dataclass(frozen=True)
class LoneTrip:
    """Earliest times and least length of the trip depot -> [pickup ->] order -> depot."""

    close: int  # latest return: shift end within depot hours
    reach_pickup: IntArray
    reach: IntArray
    back: IntArray
    duration: IntArray  # travel and service only (waiting can be avoided by leaving later)
    distance: IntArray


def _lone_trip(problem: Problem, v: VehicleSpec) -> LoneTrip:
    """Each order served alone by a vehicle of type ``v``, as early as possible."""
    n = problem.n_orders
    paired = problem.pickup_loc >= 0
    loc = problem.order_loc
    first = np.where(paired, problem.pickup_loc, loc)
    start = max(v.shift_start, int(problem.depot_tw[v.start_depot, 0]))
    d_out, t_out = _legs(problem, np.full(n, v.start_depot), first)
    d_back, t_back = _legs(problem, loc, np.full(n, v.end_depot))
    if problem.matrix is None:
        d_pair, t_pair = travel_pairs(problem, first, loc)
    else:  # no shortest paths between orders: count the leg as free (never refuse wrongly)
        d_pair, t_pair = np.zeros(n, np.int64), np.zeros(n, np.int64)
    d_pair, t_pair = np.where(paired, d_pair, 0), np.where(paired, t_pair, 0)
    reach_pickup = start + t_out
    leave = np.where(paired, np.maximum(reach_pickup, problem.pickup_tw[:, 0]), start)
    reach = leave + np.where(paired, problem.pickup_service + t_pair, t_out)
    back = np.maximum(reach, problem.tw[:, 0]) + problem.service + t_back
    services = problem.service + np.where(paired, problem.pickup_service, 0)
    return LoneTrip(
        close=min(v.shift_end, int(problem.depot_tw[v.end_depot, 1])),
        reach_pickup=reach_pickup,
        reach=reach,
        back=back,
        duration=t_out + t_pair + t_back + services,
        distance=d_out + d_pair + d_back,
    )


def _failing(bad: NDArray[np.bool_], say: Callable[[int], str]) -> Failures:
    """The orders flagged in ``bad`` with the reason ``say`` gives for each."""
    return bad, [say(int(i)) for i in np.flatnonzero(bad)]


def _trip(problem: Problem, v: VehicleSpec) -> Iterator[Failures]:
    """Failing orders and their reasons for each constraint of a lone trip on type ``v``."""
    trip = _lone_trip(problem, v)
    since = f"the earliest arrival from depot {problem.depot_ids[v.start_depot]} is"

    yield _failing(
        (problem.pickup_loc >= 0) & (trip.reach_pickup > problem.pickup_tw[:, 1]),
        lambda i: (
            f"its pickup window ends at {time_text(problem, problem.pickup_tw[i, 1])} "
            f"but {since} {time_text(problem, trip.reach_pickup[i])}"
        ),
    )
    yield _failing(
        trip.reach > problem.tw[:, 1],
        lambda i: (
            f"its window ends at {time_text(problem, problem.tw[i, 1])} but {since} "
            f"{time_text(problem, trip.reach[i])}"
        ),
    )
    yield _failing(
        trip.back > trip.close,
        lambda i: (
            f"the earliest return to depot {problem.depot_ids[v.end_depot]} is "
            f"{time_text(problem, trip.back[i])}, after the shift or depot closes at "
            f"{time_text(problem, trip.close)}"
        ),
    )
    yield _failing(
        trip.duration > v.max_duration,
        lambda i: (
            f"the trip takes at least {span_text(problem, trip.duration[i])}, more than "
            f"max_duration {span_text(problem, v.max_duration)}"
        ),
    )
    yield _failing(
        trip.distance > v.max_distance,
        lambda i: (
            f"the trip is at least {distance_text(problem, trip.distance[i])} long, more "
            f"than max_distance {distance_text(problem, v.max_distance)}"
        ),
    )


def _load(problem: Problem, v: VehicleSpec) -> list[Failures]:
    """Orders a vehicle of type ``v`` cannot carry (capacity) or may not serve (skills)."""
    capacity = np.asarray(v.capacity, dtype=np.int64)
    heavy = np.asarray(~(problem.demand <= capacity).all(axis=1), dtype=bool)
    lacking = np.array([not s <= v.skills for s in problem.skills], dtype=bool)
    return [
        _failing(
            heavy,
            lambda i: f"demand {amount_text(problem.demand[i])} > capacity {amount_text(capacity)}",
        ),
        _failing(lacking, lambda i: f"needs skills {sorted(problem.skills[i] - v.skills)}"),
    ]


def _verdict(problem: Problem) -> Verdict:
    """Try every order alone on every vehicle type: capacity, skills, windows, limits."""
    n = problem.n_orders
    ok = np.ones((n, len(problem.vehicles)), dtype=bool)
    why: dict[tuple[int, int], str] = {}
    for t, v in enumerate(problem.vehicles):
        checks = _load(problem, v)
        if v.count == 0:
            checks.append((np.ones(n, dtype=bool), ["none of them in the fleet"] * n))
        for bad, reasons in itertools.chain(checks, _trip(problem, v)):
            for i, reason in zip(np.flatnonzero(bad), reasons, strict=True):
                if ok[i, t]:
                    ok[i, t] = False
                    why[(int(i), t)] = reason
    return Verdict(ok, why)


def _order_reason(problem: Problem, verdict: Verdict, i: int) -> str:
    """Why no vehicle type can serve order ``i``, one clause per type."""
    if len(problem.vehicles) == 1:
        return f"order {problem.order_ids[i]}: {verdict.why[(i, 0)]}"
    parts = [f"{v.name}: {verdict.why[(i, t)]}" for t, v in enumerate(problem.vehicles)]
    return f"order {problem.order_ids[i]}: no vehicle type can serve it ({'; '.join(parts)})"


def _carried(v: VehicleSpec) -> tuple[int, ...]:
    """Most a type's vehicles carry from the depot in a day: every trip full."""
    trips = 1 + min(v.max_reloads, UNLIMITED)
    return tuple(v.count * c * trips for c in v.capacity)


def _demand_problems(problem: Problem, verdict: Verdict) -> list[str]:
    """Groups of vehicle types that must carry more required demand than they can."""
    types = range(len(problem.vehicles))
    single = (problem.pickup_loc < 0) & problem.required & verdict.ok.any(axis=1)
    if len(problem.vehicles) <= MAX_SUBSET_TYPES:
        groups = [g for k in types for g in itertools.combinations(types, k + 1)]
    else:
        groups = [tuple(types)]
    out: list[str] = []
    for group in sorted(groups, key=lambda g: (-len(g), g)):  # the whole fleet first
        inside = np.zeros(len(problem.vehicles), dtype=bool)
        inside[list(group)] = True
        mine = single & ~(verdict.ok & ~inside).any(axis=1)  # only these types can serve them
        need = problem.demand[mine].sum(axis=0)
        can = np.sum([_carried(problem.vehicles[t]) for t in group], axis=0, dtype=object)
        if not (need > can).any() or not mine.any():
            continue
        names = ", ".join(problem.vehicles[t].name for t in group)
        whom = {1: f"vehicle type {names} carries"}.get(len(group), f"vehicle types {names} carry")
        if len(group) == len(types):
            whom = "the whole fleet carries"
        scope = (
            "required orders"
            if len(group) == len(types)
            else f"required orders only {names} can serve"
        )
        out.append(
            f"{scope} need {amount_text(need)} in total but {whom} at most "
            f"{amount_text(can)} (every vehicle full on every trip)"
        )
        if len(out) >= 3:
            break
    return out


def refuse_infeasible(problem: Problem, source: Path) -> dict[int, str]:
    """Raise an input error naming every required order no plan can serve, and any demand
    the fleet cannot carry; returns the reasons optional orders cannot be served."""
    if problem.n_orders and not any(v.count for v in problem.vehicles):
        raise InputError(source, "the fleet has no vehicles (every vehicle count is 0)")
    verdict = _verdict(problem)
    lost = np.flatnonzero(~verdict.ok.any(axis=1))
    errors: list[tuple[str, int | None, str]] = [
        (str(source), None, _order_reason(problem, verdict, int(i)))
        for i in lost
        if problem.required[i]
    ]
    errors += [(str(source), None, text) for text in _demand_problems(problem, verdict)]
    if errors:
        raise RowError(errors)
    return {int(i): _order_reason(problem, verdict, int(i)) for i in lost}
