"""Read orders, fleet and depots tables (CSV or JSON) into a validated ``Problem``.

Every bad row is collected first and reported together (file, row, reason) before any
solving; constraints PyVRP cannot model are rejected by name rather than dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shopscale.errors import InputError
from shopscale.routing.problem import UNLIMITED, Problem, VehicleSpec, can_serve
from shopscale.routing.rows import (
    BadFieldError,
    Collector,
    get_float,
    get_int,
    get_ints,
    get_list,
    get_point,
    get_time,
    records,
)

MICRO = 1_000_000
"""Table costs are kept in micro-currency units so per-metre and per-second costs are ints."""


def _depots(path: Path, errors: Collector) -> tuple[list[str], list[tuple], list[tuple[int, int]]]:
    """Depot ids, points and opening hours."""
    ids: list[str] = []
    points: list[tuple] = []
    hours: list[tuple[int, int]] = []
    for line, rec in records(path):
        try:
            depot_id = str(rec.get("id", "")).strip()
            if not depot_id:
                raise BadFieldError("missing id")
            if depot_id in ids:
                raise BadFieldError(f"duplicate depot id {depot_id!r}")
            point = get_point(rec)
            if point is None:
                raise BadFieldError("missing location (x,y or lat,lon)")
            opens, closes = get_time(rec, "open", 0), get_time(rec, "close", UNLIMITED)
            if closes < opens:
                raise BadFieldError(f"closes ({closes}) before it opens ({opens})")
        except BadFieldError as exc:
            errors.add(str(path), line, str(exc))
            continue
        ids.append(depot_id)
        points.append(point)
        hours.append((opens, closes))
    if not ids and not errors.problems:
        errors.add(str(path), None, "no depots")
    return ids, points, hours


def _vehicle(rec: dict[str, Any], depot_ids: list[str]) -> VehicleSpec:
    """One fleet row as a vehicle type (raises ``BadFieldError``)."""
    name = str(rec.get("type", rec.get("vehicle_type", ""))).strip()
    if not name:
        raise BadFieldError("missing type")
    count = get_int(rec, "count", 1)
    if count < 1:
        raise BadFieldError(f"count must be >= 1, got {count}")
    capacity = get_ints(rec, "capacity", [UNLIMITED])
    if min(capacity) < 0:
        raise BadFieldError(f"negative capacity {capacity}")
    start = str(rec.get("start_depot", depot_ids[0] if len(depot_ids) == 1 else "")).strip()
    end = str(rec.get("end_depot", start)).strip()
    for which, depot in (("start_depot", start), ("end_depot", end)):
        if depot not in depot_ids:
            raise BadFieldError(
                f"unknown depot {depot!r} in {which} (known: {', '.join(depot_ids)})"
            )
    shift_start, shift_end = get_time(rec, "shift_start", 0), get_time(rec, "shift_end", UNLIMITED)
    if shift_end < shift_start:
        raise BadFieldError(f"shift ends ({shift_end}) before it starts ({shift_start})")
    costs = [get_float(rec, k, 0.0) or 0.0 for k in ("fixed_cost", "cost_per_hour")]
    per_km = get_float(rec, "cost_per_km", 1.0) or 0.0
    if min([*costs, per_km]) < 0:
        raise BadFieldError("negative cost")
    limits = [get_int(rec, k, UNLIMITED) for k in ("max_duration", "max_distance", "max_reloads")]
    if min(limits) < 0:
        raise BadFieldError("negative max_duration, max_distance or max_reloads")
    return VehicleSpec(
        name=name,
        count=count,
        capacity=tuple(capacity),
        start_depot=depot_ids.index(start),
        end_depot=depot_ids.index(end),
        shift_start=shift_start,
        shift_end=shift_end,
        max_duration=limits[0],
        max_distance=limits[1],
        fixed_cost=round(costs[0] * MICRO),
        unit_distance_cost=round(per_km * MICRO / 1000),
        unit_duration_cost=round(costs[1] * MICRO / 3600),
        skills=frozenset(get_list(rec, "skills")),
        max_reloads=0 if "max_reloads" not in rec else limits[2],
    )


def _fleet(path: Path, depot_ids: list[str], errors: Collector) -> list[tuple[int, VehicleSpec]]:
    """Vehicle types with the line they came from."""
    out: list[tuple[int, VehicleSpec]] = []
    for line, rec in records(path):
        try:
            out.append((line, _vehicle(rec, depot_ids)))
        except BadFieldError as exc:
            errors.add(str(path), line, str(exc))
    if not out and not errors.problems:
        errors.add(str(path), None, "no vehicles")
    return out


def _window(rec: dict[str, Any], prefix: str = "") -> tuple[int, int]:
    """One time window from ``tw_start``/``tw_end`` or a ``time_windows`` list."""
    spans = get_list(rec, f"{prefix}time_windows") if not prefix else []
    if len(spans) > 1:
        raise BadFieldError(
            f"{len(spans)} time windows; PyVRP models one window per visit, "
            "so multiple time windows are not supported (split the order or pick one)"
        )
    if spans:
        start_text, _, end_text = spans[0].partition("-")
        rec = {**rec, "tw_start": start_text.strip(), "tw_end": end_text.strip()}
    early = get_time(rec, f"{prefix}tw_start", 0)
    late = get_time(rec, f"{prefix}tw_end", UNLIMITED)
    if late < early:
        raise BadFieldError(f"time window ends ({late}) before it starts ({early})")
    return early, late


def _order(rec: dict[str, Any], n_dims: int) -> dict[str, Any]:
    """One order row as plain fields (raises ``BadFieldError``)."""
    order_id = str(rec.get("id", rec.get("order_id", ""))).strip()
    if not order_id:
        raise BadFieldError("missing id")
    point = get_point(rec)
    if point is None:
        raise BadFieldError("missing location (x,y or lat,lon)")
    demand = get_ints(rec, "demand", [0] * n_dims)
    if len(demand) != n_dims:
        raise BadFieldError(f"demand has {len(demand)} dimension(s), the fleet has {n_dims}")
    if min(demand) < 0:
        raise BadFieldError(f"negative demand {rec['demand']}")
    service = get_time(rec, "service", get_time(rec, "service_s", 0))
    prize = get_int(rec, "prize", get_int(rec, "priority", 0))
    if service < 0 or prize < 0:
        raise BadFieldError("negative service time or prize")
    return {
        "id": order_id,
        "point": point,
        "pickup": get_point(rec, "pickup_"),
        "demand": demand,
        "service": service,
        "tw": _window(rec),
        "pickup_service": get_time(rec, "pickup_service", 0),
        "pickup_tw": _window(rec, "pickup_"),
        "prize": prize,
        "skills": frozenset(get_list(rec, "skills")),
    }


def _orders(
    path: Path, vehicles: list[tuple[int, VehicleSpec]], errors: Collector
) -> list[dict[str, Any]]:
    """Order rows, each checked against the fleet (someone must be able to carry it)."""
    n_dims = len(vehicles[0][1].capacity) if vehicles else 1
    seen: set[str] = set()
    out = []
    for line, rec in records(path):
        try:
            order = _order(rec, n_dims)
            if order["id"] in seen:
                raise BadFieldError(f"duplicate order id {order['id']!r}")
            demand = np.asarray(order["demand"])
            if vehicles and not any(can_serve(v, demand, order["skills"]) for _, v in vehicles):
                need = f"demand {order['demand']}"
                if order["skills"]:
                    need += f" and skills {sorted(order['skills'])}"
                raise BadFieldError(f"no vehicle type can carry order {order['id']!r} ({need})")
        except BadFieldError as exc:
            errors.add(str(path), line, str(exc))
            continue
        seen.add(order["id"])
        out.append(order)
    if not out and not errors.problems:
        errors.add(str(path), None, "no orders")
    return out


def _check_dims(fleet: list[tuple[int, VehicleSpec]], path: Path, errors: Collector) -> None:
    """All vehicle types must have the same number of capacity dimensions."""
    if not fleet:
        return
    dims = len(fleet[0][1].capacity)
    for line, vehicle in fleet:
        if len(vehicle.capacity) != dims:
            errors.add(str(path), line, f"capacity has {len(vehicle.capacity)} dims, not {dims}")


def _coordinates_kind(points: list[tuple], path: Path) -> str:
    """'geo' or 'xy' for all points; mixing them is an input error."""
    kinds = {p[2] for p in points}
    if len(kinds) > 1:
        raise InputError(path, "mixes lat/lon and x/y coordinates; use one kind everywhere")
    return kinds.pop() if kinds else "xy"


def read_tables(
    orders: Path,
    fleet: Path,
    depots: Path,
    *,
    matrix: Path | None = None,
    speed_kmh: float = 50.0,
    speed: float = 1.0,
) -> Problem:
    """Read and validate the three tables (and an optional matrix) into one ``Problem``."""
    errors = Collector()
    depot_ids, depot_points, hours = _depots(depots, errors)
    vehicles = _fleet(fleet, depot_ids, errors) if depot_ids else []
    _check_dims(vehicles, fleet, errors)
    rows = _orders(orders, vehicles, errors)
    errors.raise_if_any()
    kind = _coordinates_kind(depot_points + [r["point"] for r in rows], orders)
    problem = _assemble(orders.stem, depot_ids, depot_points, hours, vehicles, rows, kind)
    problem = _with_speed(problem, speed_kmh if kind == "geo" else speed)
    if matrix is not None:
        from shopscale.routing.matrix import attach_matrix

        problem = attach_matrix(problem, matrix)
    return problem


def _with_speed(problem: Problem, speed: float) -> Problem:
    """Set the travel speed used to derive durations from distances."""
    from dataclasses import replace

    return replace(problem, speed=speed)


def _assemble(
    name: str,
    depot_ids: list[str],
    depot_points: list[tuple],
    hours: list[tuple[int, int]],
    vehicles: list[tuple[int, VehicleSpec]],
    rows: list[dict[str, Any]],
    kind: str,
) -> Problem:
    """Lay out locations (depots, deliveries, pickups) and build the arrays."""
    n_dep, n = len(depot_ids), len(rows)
    points = [p[:2] for p in depot_points] + [r["point"][:2] for r in rows]
    pickup_loc = np.full(n, -1, dtype=np.int64)
    for i, r in enumerate(rows):
        if r["pickup"] is not None:
            pickup_loc[i] = len(points)
            points.append(r["pickup"][:2])
    prize = np.array([r["prize"] for r in rows], dtype=np.int64)
    return Problem(
        name=name,
        coords=np.asarray(points, dtype=float),
        depot_ids=tuple(depot_ids),
        depot_tw=np.asarray(hours, dtype=np.int64).reshape(-1, 2),
        order_ids=tuple(r["id"] for r in rows),
        order_loc=np.arange(n_dep, n_dep + n, dtype=np.int64),
        pickup_loc=pickup_loc,
        demand=np.asarray([r["demand"] for r in rows], dtype=np.int64).reshape(n, -1),
        service=np.array([r["service"] for r in rows], dtype=np.int64),
        tw=np.asarray([r["tw"] for r in rows], dtype=np.int64).reshape(n, 2),
        pickup_service=np.array([r["pickup_service"] for r in rows], dtype=np.int64),
        pickup_tw=np.asarray([r["pickup_tw"] for r in rows], dtype=np.int64).reshape(n, 2),
        prize=prize,
        required=prize == 0,
        skills=tuple(r["skills"] for r in rows),
        vehicles=tuple(v for _, v in vehicles),
        metric="haversine" if kind == "geo" else "euclidean",
        cost_scale=1.0 / MICRO,
    )
