"""Read VRPLIB instances (CVRP, VRPTW), keeping the file's cost convention.

Distances follow the literature: rounded Euclidean for CVRP (X and Belgium sets), DIMACS
(x10, truncated) for VRPTW, so costs compare with published best-known values. Edge weights
are never expanded into a full matrix here; ``problem.travel`` computes blocks on demand.

Each problem type lists the parts it needs (``REQUIRED``): a CVRP without ``DEMAND_SECTION``
would otherwise be solved with zero demand. Node rows are placed by their id, so repeated,
missing or out-of-range ids and non-numeric values are errors with their line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shopscale.errors import InputError
from shopscale.routing.problem import UNLIMITED, Metric, Problem, VehicleSpec
from shopscale.routing.vrplib_text import VrplibText, edge_weights, node_values, scan, spec_number

KNOWN_SPECS = {
    "NAME",
    "COMMENT",
    "TYPE",
    "DIMENSION",
    "VEHICLES",
    "CAPACITY",
    "SERVICE_TIME",
    "EDGE_WEIGHT_TYPE",
    "EDGE_WEIGHT_FORMAT",
    "DISPLAY_DATA_TYPE",
}
KNOWN_SECTIONS = {
    "NODE_COORD_SECTION",
    "DEMAND_SECTION",
    "TIME_WINDOW_SECTION",
    "SERVICE_TIME_SECTION",
    "DEPOT_SECTION",
    "EDGE_WEIGHT_SECTION",
}
NODE_SECTIONS = ("NODE_COORD_SECTION", "DEMAND_SECTION", "TIME_WINDOW_SECTION")
REQUIRED = {
    "CVRP": ("DIMENSION", "CAPACITY", "DEMAND_SECTION"),
    "VRPTW": ("DIMENSION", "CAPACITY", "DEMAND_SECTION", "TIME_WINDOW_SECTION"),
}
"""What each problem type must state; locations come from ``NODE_COORD_SECTION`` (EUC_2D)
or ``EDGE_WEIGHT_SECTION`` (EXPLICIT). VEHICLES (default: one per customer), service times
(default 0) and DEPOT_SECTION (default node 1) are optional."""


def _header(text: VrplibText) -> tuple[str, str, int]:
    """Problem type, edge weight type and dimension; unsupported or missing parts refused."""
    path = text.path
    unknown = [
        f"{name} (line {item.line})"
        for group, known in ((text.specs, KNOWN_SPECS), (text.sections, KNOWN_SECTIONS))
        for name, item in group.items()
        if name not in known
    ]
    if unknown:
        raise InputError(path, f"VRPLIB fields not supported by shopscale: {', '.join(unknown)}")
    kind_spec = text.specs.get("TYPE")
    kind = kind_spec.value.upper() if kind_spec else "CVRP"
    if kind not in REQUIRED:
        line = kind_spec.line if kind_spec else None
        raise InputError(path, f"VRPLIB TYPE {kind} not supported (only CVRP and VRPTW)", line)
    weight_spec = text.specs.get("EDGE_WEIGHT_TYPE")
    weight = weight_spec.value.upper() if weight_spec else "EUC_2D"
    if weight not in ("EUC_2D", "EXPLICIT"):
        line = weight_spec.line if weight_spec else None
        raise InputError(path, f"EDGE_WEIGHT_TYPE {weight} not supported (EUC_2D, EXPLICIT)", line)
    where = "NODE_COORD_SECTION" if weight == "EUC_2D" else "EDGE_WEIGHT_SECTION"
    needed = (*REQUIRED[kind], where)
    missing = [k for k in needed if k not in text.specs and k not in text.sections]
    if missing:
        raise InputError(
            path, f"a {kind} instance ({weight}) needs {', '.join(missing)}: missing in this file"
        )
    text.errors.raise_if_any()
    n = spec_number(text, "DIMENSION", None, whole=True)
    rows = max(len(s.rows) for k, s in text.sections.items() if k in NODE_SECTIONS)
    if n is not None and n < 2:
        text.add(text.specs["DIMENSION"].line, "DIMENSION must be >= 2 (depot and a customer)")
    elif n is not None and n > rows:  # checked before any array of n rows is made
        text.add(
            text.specs["DIMENSION"].line,
            f"DIMENSION is {n:.0f} but the longest node section has {rows} rows",
        )
    text.errors.raise_if_any()
    return kind, weight, int(n or 0)


def _depot(text: VrplibText) -> None:
    """DEPOT_SECTION, when given, must name node 1 only (then ``-1``)."""
    section = text.sections.get("DEPOT_SECTION")
    if section is None:
        return
    ids = [(line, t) for line, tokens in section.rows for t in tokens if t != "-1"]
    if [t for _, t in ids] != ["1"]:
        line = ids[0][0] if ids else section.line
        text.add(line, "only one depot, as node 1, is supported for VRPLIB input")


def _service(text: VrplibText, n: int) -> np.ndarray:
    """Service time per node: SERVICE_TIME_SECTION, else the SERVICE_TIME value, else 0."""
    if "SERVICE_TIME_SECTION" in text.sections:
        return node_values(text, "SERVICE_TIME_SECTION", n, 1)[:, 0]
    return np.full(n, spec_number(text, "SERVICE_TIME", 0.0, whole=False) or 0.0)


def _windows(text: VrplibText, n: int) -> np.ndarray:
    """Time window per node (file units); unlimited when the file has none."""
    if "TIME_WINDOW_SECTION" not in text.sections:
        return np.column_stack([np.zeros(n), np.full(n, float(UNLIMITED))])
    tw = node_values(text, "TIME_WINDOW_SECTION", n, 2)
    lines = {int(tokens[0]): line for line, tokens in text.sections["TIME_WINDOW_SECTION"].rows}
    for node in np.flatnonzero(tw[:, 1] < tw[:, 0]):
        text.add(
            lines.get(int(node) + 1), f"TIME_WINDOW_SECTION: node {node + 1} ends before it starts"
        )
    return tw


def read_vrplib(path: Path) -> Problem:
    """Read a CVRP/VRPTW file; order ids are the file's node numbers (1-based)."""
    text = scan(path)
    kind, weight, n = _header(text)
    vrptw = kind == "VRPTW"
    scale = 10.0 if vrptw else 1.0
    coords = np.zeros((n, 2))
    if "NODE_COORD_SECTION" in text.sections:
        coords = node_values(text, "NODE_COORD_SECTION", n, 2, nonneg=False)
    demand = node_values(text, "DEMAND_SECTION", n, 1, whole=True)[:, 0].astype(np.int64)
    service = (_service(text, n) * scale).astype(np.int64)
    tw = np.minimum(_windows(text, n) * scale, UNLIMITED).astype(np.int64)
    capacity = spec_number(text, "CAPACITY", None, whole=True)
    vehicles = spec_number(text, "VEHICLES", n - 1, whole=True)
    _depot(text)
    weights = edge_weights(text, n) if weight == "EXPLICIT" else None
    text.errors.raise_if_any()
    metric: Metric = "euc_dimacs" if vrptw else "euc_round"
    matrix = None
    if weights is not None:
        dist = (weights * scale).astype(np.int64) if vrptw else np.round(weights).astype(np.int64)
        matrix, metric = (dist, dist), "matrix"
    vehicle = VehicleSpec(
        name="vehicle",
        count=int(vehicles or 0),
        capacity=(int(capacity or 0),),
        start_depot=0,
        end_depot=0,
        shift_start=int(tw[0, 0]),
        shift_end=int(tw[0, 1]),
    )
    spec = text.specs.get("NAME")
    return _problem(
        spec.value if spec else path.stem,
        coords,
        demand,
        service,
        tw,
        vehicle,
        metric,
        matrix,
        scale,
    )


def _problem(
    name: str,
    coords: np.ndarray,
    demand: np.ndarray,
    service: np.ndarray,
    tw: np.ndarray,
    vehicle: VehicleSpec,
    metric: Metric,
    matrix: tuple[np.ndarray, np.ndarray] | None,
    scale: float,
) -> Problem:
    """The ``Problem`` of a VRPLIB file: node 1 is the depot, nodes 2.. the orders."""
    m = len(demand) - 1
    orders = np.arange(1, m + 1, dtype=np.int64)
    return Problem(
        name=name,
        coords=coords,
        depot_ids=("1",),
        depot_tw=tw[:1],
        order_ids=tuple(str(i + 1) for i in orders),
        order_loc=orders,
        pickup_loc=np.full(m, -1, dtype=np.int64),
        demand=demand[1:].reshape(-1, 1),
        service=service[1:],
        tw=tw[1:],
        pickup_service=np.zeros(m, dtype=np.int64),
        pickup_tw=np.column_stack([np.zeros(m, np.int64), np.full(m, UNLIMITED)]),
        prize=np.zeros(m, dtype=np.int64),
        required=np.ones(m, dtype=bool),
        skills=tuple(frozenset() for _ in orders),
        vehicles=(vehicle,),
        metric=metric,
        cost_scale=1.0 / scale,
        matrix=matrix,
        source_kind="vrplib",
    )
