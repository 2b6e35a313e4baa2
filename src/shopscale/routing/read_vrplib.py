"""Read VRPLIB instances (CVRP, VRPTW) through ``vrplib``, keeping the file's cost convention.

Distances follow the literature: rounded Euclidean for CVRP (X and Belgium sets), DIMACS
(x10, truncated) for VRPTW, so costs compare with published best-known values. Edge weights
are never expanded into a full matrix here; ``problem.travel`` computes blocks on demand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import vrplib

from shopscale.errors import InputError
from shopscale.routing.problem import UNLIMITED, Metric, Problem, VehicleSpec

KNOWN_KEYS = {
    "name",
    "comment",
    "type",
    "dimension",
    "vehicles",
    "capacity",
    "service_time",
    "edge_weight_type",
    "edge_weight_format",
    "node_coord",
    "demand",
    "time_window",
    "depot",
    "edge_weight",
    "display_data_type",
}


def _instance(path: Path) -> dict[str, Any]:
    """The raw ``vrplib`` dictionary, with unsupported fields rejected by name."""
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        inst = vrplib.read_instance(path, compute_edge_weights=False)
    except Exception as exc:  # vrplib raises bare ValueError/IndexError on malformed files
        raise InputError(path, f"not a readable VRPLIB file: {type(exc).__name__}: {exc}") from None
    unknown = sorted(set(inst) - KNOWN_KEYS)
    if unknown:
        raise InputError(path, f"VRPLIB fields not supported by shopscale: {', '.join(unknown)}")
    kind = str(inst.get("type", "CVRP")).upper()
    if kind not in ("CVRP", "VRPTW"):
        raise InputError(path, f"VRPLIB TYPE {kind} not supported (only CVRP and VRPTW)")
    weight = str(inst.get("edge_weight_type", "EUC_2D")).upper()
    if weight not in ("EUC_2D", "EXPLICIT"):
        raise InputError(path, f"EDGE_WEIGHT_TYPE {weight} not supported (EUC_2D or EXPLICIT)")
    if "node_coord" not in inst and "edge_weight" not in inst:
        raise InputError(path, "no NODE_COORD_SECTION and no EDGE_WEIGHT_SECTION")
    return inst


def _per_node(inst: dict[str, Any], key: str, n: int, default: float) -> np.ndarray:
    """A per-node field broadcast to ``n`` values."""
    value = inst.get(key, default)
    return np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()


def _node_fields(
    path: Path, inst: dict[str, Any], n: int, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Demand, service time and time window per node (times scaled), validated."""
    demand = _per_node(inst, "demand", n, 0.0).astype(np.int64)
    if (demand < 0).any():
        bad = int(np.flatnonzero(demand < 0)[0]) + 1
        raise InputError(path, f"negative demand at node {bad}")
    service = (_per_node(inst, "service_time", n, 0.0) * scale).astype(np.int64)
    if "time_window" in inst:
        tw = (np.asarray(inst["time_window"], dtype=float) * scale).astype(np.int64)
    else:
        tw = np.column_stack([np.zeros(n, np.int64), np.full(n, UNLIMITED, np.int64)])
    bad_tw = np.flatnonzero(tw[:, 1] < tw[:, 0])
    if len(bad_tw):
        raise InputError(path, f"time window ends before it starts at node {bad_tw[0] + 1}")
    return demand, service, tw


def read_vrplib(path: Path) -> Problem:
    """Read a CVRP/VRPTW file; order ids are the file's node numbers (1-based)."""
    inst = _instance(path)
    n = int(inst["dimension"])
    depots = np.atleast_1d(np.asarray(inst.get("depot", [0]), dtype=np.int64))
    if len(depots) != 1 or depots[0] != 0:
        raise InputError(path, "only one depot, as node 1, is supported for VRPLIB input")
    vrptw = str(inst.get("type", "CVRP")).upper() == "VRPTW"
    scale = 10.0 if vrptw else 1.0
    metric: Metric = "euc_dimacs" if vrptw else "euc_round"
    demand, service, tw = _node_fields(path, inst, n, scale)
    capacity = int(inst.get("capacity", UNLIMITED))
    too_big = np.flatnonzero(demand > capacity)
    if len(too_big):
        raise InputError(path, f"no vehicle can carry node {too_big[0] + 1} (demand > capacity)")
    coords = np.asarray(inst.get("node_coord", np.zeros((n, 2))), dtype=float)
    vehicle = VehicleSpec(
        name="vehicle",
        count=int(inst.get("vehicles", n - 1)),
        capacity=(capacity,),
        start_depot=0,
        end_depot=0,
        shift_start=int(tw[0, 0]),
        shift_end=int(tw[0, 1]),
    )
    matrix = None
    if "edge_weight" in inst and "node_coord" not in inst:
        weights = np.asarray(inst["edge_weight"], dtype=float)
        dist = (weights * scale).astype(np.int64) if vrptw else np.round(weights).astype(np.int64)
        matrix, metric = (dist, dist), "matrix"
    orders = np.arange(1, n, dtype=np.int64)
    return Problem(
        name=str(inst.get("name", path.stem)),
        coords=coords,
        depot_ids=("1",),
        depot_tw=tw[:1],
        order_ids=tuple(str(i + 1) for i in orders),
        order_loc=orders,
        pickup_loc=np.full(n - 1, -1, dtype=np.int64),
        demand=demand[1:].reshape(-1, 1),
        service=service[1:],
        tw=tw[1:],
        pickup_service=np.zeros(n - 1, dtype=np.int64),
        pickup_tw=np.column_stack([np.zeros(n - 1, np.int64), np.full(n - 1, UNLIMITED)]),
        prize=np.zeros(n - 1, dtype=np.int64),
        required=np.ones(n - 1, dtype=bool),
        skills=tuple(frozenset() for _ in orders),
        vehicles=(vehicle,),
        metric=metric,
        cost_scale=1.0 / scale,
        matrix=matrix,
        source_kind="vrplib",
    )
