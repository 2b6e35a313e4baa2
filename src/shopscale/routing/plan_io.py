"""Write a plan as plan.csv, plan.json, routes.geojson and summary.json, and read it back.

Reading uses only the user-facing ids in plan.json (order ids, vehicle type names, depot
ids), so ``routes check`` tests the files a user receives, not our in-memory objects.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from shopscale.errors import InputError
from shopscale.routing.plan import KIND_NAMES, Plan, PlanRoute, Visit
from shopscale.routing.problem import Problem

PLAN_COLUMNS = ["route", "vehicle_type", "stop", "order_id", "arrival", "departure", "load"]


def _scale(problem: Problem) -> float:
    """Unit of reported times and distances: VRPLIB-DIMACS integers are tenths."""
    return problem.cost_scale if problem.source_kind == "vrplib" else 1.0


def _num(value: float) -> float | int:
    """An int when whole, so CSV and JSON stay readable."""
    return int(value) if float(value).is_integer() else round(float(value), 3)


def _loads(problem: Problem, route: PlanRoute) -> list[np.ndarray]:
    """Load on board after each visit (a reload refills with the next trip's deliveries)."""
    out, load = [], np.zeros(problem.n_dims, dtype=np.int64)
    trips: list[list[Visit]] = [[]]
    for visit in route.visits:
        if visit[0] == "R":  # a reload starts the next trip, loaded with its deliveries
            trips.append([])
        trips[-1].append(visit)
    for trip in trips:
        load = sum((problem.demand[i] for k, i in trip if k == "C"), np.zeros_like(load))
        for kind, idx in trip:
            if kind != "R":
                sign = 1 if kind == "P" else -1
                load = load + sign * problem.demand[idx]
            out.append(load)
    return out


def _stop(problem: Problem, route: PlanRoute, k: int, load: np.ndarray) -> dict[str, Any]:
    """One stop of ``route`` as a JSON-ready dict."""
    kind, idx = route.visits[k]
    loc = idx if kind == "R" else problem.pickup_loc[idx] if kind == "P" else problem.order_loc[idx]
    arrival, departure = route.times[k] if route.times else (0, 0)
    scale = _scale(problem)
    stop = {
        "activity": KIND_NAMES[kind],
        "x": float(problem.coords[loc, 0]),
        "y": float(problem.coords[loc, 1]),
        "arrival": _num(arrival * scale),
        "departure": _num(departure * scale),
        "load": ";".join(str(v) for v in load.tolist()),
    }
    if kind == "R":
        stop["depot_id"] = problem.depot_ids[idx]
    else:
        stop["order_id"] = problem.order_ids[idx]
    return stop


def _route_doc(problem: Problem, route: PlanRoute, number: int) -> dict[str, Any]:
    """One route of plan.json: totals, depots, drawn path and stops."""
    vehicle = problem.vehicles[route.vehicle_type]
    start, end = problem.coords[vehicle.start_depot], problem.coords[vehicle.end_depot]
    loads = _loads(problem, route)
    return {
        "route": number,
        "vehicle_type": vehicle.name,
        "cost": route.cost,
        "distance": route.distance,
        "duration": route.duration,
        "start_depot": problem.depot_ids[vehicle.start_depot],
        "end_depot": problem.depot_ids[vehicle.end_depot],
        "path": [start.tolist()]
        + [problem.coords[_loc(problem, v)].tolist() for v in route.visits]
        + [end.tolist()],
        "stops": [_stop(problem, route, k, loads[k]) for k in range(len(route.visits))],
    }


def plan_document(problem: Problem, plan: Plan) -> dict[str, Any]:
    """The plan.json content: routes with their stops, depots and unserved orders."""
    depots = problem.coords[: problem.n_depots]
    return {
        "name": problem.name,
        "geographic": problem.geographic,
        "cost_scale": problem.cost_scale,
        "distance_scale": _scale(problem),  # file units per internal distance unit
        "depots": [
            {"id": d, "x": float(x), "y": float(y)}
            for d, (x, y) in zip(problem.depot_ids, depots, strict=True)
        ],
        "routes": [_route_doc(problem, r, k) for k, r in enumerate(plan.routes, start=1)],
        "unserved": [
            {"order_id": problem.order_ids[i], "reason": why} for i, why in plan.unserved.items()
        ],
    }


def _loc(problem: Problem, visit: Visit) -> int:
    """Problem location of a visit."""
    kind, idx = visit
    if kind == "R":
        return idx
    return int(problem.pickup_loc[idx] if kind == "P" else problem.order_loc[idx])


def _geojson(doc: dict[str, Any]) -> dict[str, Any]:
    """Routes as LineStrings and depots as Points (x/y or lon/lat as given)."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": r["path"]},
            "properties": {
                "route": r["route"],
                "vehicle_type": r["vehicle_type"],
                "stops": len(r["stops"]),
                "cost": r["cost"] * doc["cost_scale"],
            },
        }
        for r in doc["routes"]
    ]
    features += [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [d["x"], d["y"]]},
            "properties": {"depot_id": d["id"]},
        }
        for d in doc["depots"]
    ]
    return {"type": "FeatureCollection", "features": features}


def write_plan(problem: Problem, plan: Plan, out: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """Write every plan file into ``out``; returns the plan document."""
    out.mkdir(parents=True, exist_ok=True)
    doc = plan_document(problem, plan)
    with (out / "plan.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*PLAN_COLUMNS, "activity"])
        for r in doc["routes"]:
            stops = [s for s in r["stops"] if s["activity"] != "reload"]
            for k, s in enumerate(stops, start=1):
                row = [r["route"], r["vehicle_type"], k, s["order_id"], s["arrival"]]
                writer.writerow([*row, s["departure"], s["load"], s["activity"]])
    (out / "plan.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    (out / "routes.geojson").write_text(json.dumps(_geojson(doc)), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return doc


def read_document(plan_dir: Path, name: str) -> dict[str, Any]:
    """Load ``plan.json`` or ``summary.json`` from a plan directory."""
    path = plan_dir / name
    if not path.is_file():
        raise InputError(path, f"no {name} here; is this a directory written by `routes plan`?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None


def _visit(problem: Problem, stop: dict[str, Any], index: dict[str, int], where: str) -> Visit:
    """A plan.json stop as a visit of ``problem``."""
    if stop.get("activity") == "reload":
        depot = stop.get("depot_id")
        if depot not in problem.depot_ids:
            raise InputError(where, f"unknown depot {depot!r}")
        return ("R", problem.depot_ids.index(depot))
    order = stop.get("order_id")
    if order not in index:
        raise InputError(where, f"order {order!r} is not in the orders file")
    i = index[order]
    if stop.get("activity") == "pickup":
        return ("P", i)
    return ("D" if problem.pickup_loc[i] >= 0 else "C", i)


def read_plan(plan_dir: Path, problem: Problem) -> tuple[Plan, int]:
    """Routes of plan.json in ``problem``'s indices, and the total cost summary.json reports."""
    doc = read_document(plan_dir, "plan.json")
    summary = read_document(plan_dir, "summary.json")
    types = {v.name: t for t, v in enumerate(problem.vehicles)}
    index = {order: i for i, order in enumerate(problem.order_ids)}
    routes = []
    for r in doc.get("routes", []):
        where = f"{plan_dir / 'plan.json'} route {r.get('route')}"
        if r.get("vehicle_type") not in types:
            raise InputError(where, f"unknown vehicle type {r.get('vehicle_type')!r}")
        visits = tuple(_visit(problem, s, index, where) for s in r.get("stops", []))
        routes.append(
            PlanRoute(
                vehicle_type=types[r["vehicle_type"]],
                visits=visits,
                cost=int(r.get("cost", -1)),
                distance=int(r.get("distance", -1)),
                duration=int(r.get("duration", -1)),
                start=0,
                end=0,
            )
        )
    return Plan(routes=routes), int(summary.get("cost_internal", -1))
