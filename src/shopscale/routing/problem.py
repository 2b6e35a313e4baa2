"""The routing problem model: depots, orders and vehicle types as NumPy arrays.

One ``Problem`` type serves CSV/JSON tables and VRPLIB files. Travel distances and durations are
never stored as a full matrix unless a matrix file was given: ``travel`` computes the block a
sub-problem needs from coordinates, so 30,000-customer instances stay small in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Metric = Literal["euc_round", "euc_dimacs", "euclidean", "haversine", "matrix"]
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

UNLIMITED = 2**40
"""Stands for 'no limit' in time windows, shifts, durations and distances (fits PyVRP's ints)."""

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True)
class VehicleSpec:
    """One vehicle type of the fleet; costs are integers in the problem's cost unit."""

    name: str
    count: int
    capacity: tuple[int, ...]
    start_depot: int
    end_depot: int
    shift_start: int = 0
    shift_end: int = UNLIMITED
    max_duration: int = UNLIMITED
    max_distance: int = UNLIMITED
    fixed_cost: int = 0
    unit_distance_cost: int = 1
    unit_duration_cost: int = 0
    skills: frozenset[str] = frozenset()
    max_reloads: int = 0


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated delivery problem; location 0..n_depots-1 are the depots.

    ``order_loc[i]`` is the location of order ``i`` (its delivery point) and ``pickup_loc[i]``
    its pickup point, or -1 when the goods come from the depot. ``origin`` maps orders of a
    sub-problem back to the full problem (identity for a full problem).
    """

    name: str
    coords: FloatArray
    depot_ids: tuple[str, ...]
    depot_tw: IntArray
    order_ids: tuple[str, ...]
    order_loc: IntArray
    pickup_loc: IntArray
    demand: IntArray
    service: IntArray
    tw: IntArray
    pickup_service: IntArray
    pickup_tw: IntArray
    prize: IntArray
    required: NDArray[np.bool_]
    skills: tuple[frozenset[str], ...]
    vehicles: tuple[VehicleSpec, ...]
    metric: Metric = "euclidean"
    speed: float = 1.0
    cost_scale: float = 1.0
    matrix: tuple[IntArray, IntArray] | None = None
    origin: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    source_kind: Literal["tables", "vrplib"] = "tables"

    def __post_init__(self) -> None:
        if len(self.origin) != self.n_orders:
            object.__setattr__(self, "origin", np.arange(self.n_orders, dtype=np.int64))

    @property
    def n_orders(self) -> int:
        """Number of orders (clients plus pickup-and-delivery pairs)."""
        return len(self.order_ids)

    @property
    def n_depots(self) -> int:
        """Number of depots."""
        return len(self.depot_ids)

    @property
    def n_dims(self) -> int:
        """Number of load dimensions."""
        return int(self.demand.shape[1])

    @property
    def has_pickups(self) -> bool:
        """Whether any order is a pickup-and-delivery pair."""
        return bool((self.pickup_loc >= 0).any())

    @property
    def geographic(self) -> bool:
        """Whether coordinates are (lon, lat) degrees rather than planar x/y."""
        return self.metric == "haversine"

    def subset(self, orders: IntArray, counts: tuple[int, ...]) -> Problem:
        """The sub-problem with ``orders`` (indices into this problem) and fleet ``counts``.

        Locations are compacted to the depots and the orders' own points, so a sub-problem of
        a 30,000-customer instance pickles small.
        """
        orders = np.asarray(orders, dtype=np.int64)
        vehicles = tuple(
            replace(v, count=int(c)) for v, c in zip(self.vehicles, counts, strict=True)
        )
        n, d = len(orders), self.n_depots
        pick = self.pickup_loc[orders]
        has_pick = pick >= 0
        locs = np.concatenate([np.arange(d), self.order_loc[orders], pick[has_pick]])
        pickup_loc = np.full(n, -1, dtype=np.int64)
        pickup_loc[has_pick] = d + n + np.arange(int(has_pick.sum()))
        matrix = None
        if self.matrix is not None:
            block = np.ix_(locs, locs)
            matrix = (self.matrix[0][block], self.matrix[1][block])
        return replace(
            self,
            coords=self.coords[locs],
            matrix=matrix,
            order_ids=tuple(self.order_ids[i] for i in orders),
            order_loc=np.arange(d, d + n, dtype=np.int64),
            pickup_loc=pickup_loc,
            demand=self.demand[orders],
            service=self.service[orders],
            tw=self.tw[orders],
            pickup_service=self.pickup_service[orders],
            pickup_tw=self.pickup_tw[orders],
            prize=self.prize[orders],
            required=self.required[orders],
            skills=tuple(self.skills[i] for i in orders),
            vehicles=vehicles,
            origin=self.origin[orders],
        )


def can_serve(vehicle: VehicleSpec, demand: IntArray, skills: frozenset[str]) -> bool:
    """Whether ``vehicle`` has the skills for an order and the capacity to carry it."""
    return skills <= vehicle.skills and bool((demand <= np.asarray(vehicle.capacity)).all())


def eligible_types(problem: Problem) -> NDArray[np.bool_]:
    """Matrix ``[order, vehicle type]``: may this type serve this order (skills, capacity)?"""
    out = np.zeros((problem.n_orders, len(problem.vehicles)), dtype=bool)
    for t, vehicle in enumerate(problem.vehicles):
        cap = np.asarray(vehicle.capacity, dtype=np.int64)
        fits = (problem.demand <= cap).all(axis=1)
        has_skills = np.array([s <= vehicle.skills for s in problem.skills], dtype=bool)
        out[:, t] = fits & has_skills
    return out


def _raw_distance(problem: Problem, a: FloatArray, b: FloatArray) -> FloatArray:
    """Unrounded distance between coordinate arrays ``a`` and ``b`` (broadcasting)."""
    if problem.metric == "haversine":
        lon1, lat1 = np.radians(a[..., 0]), np.radians(a[..., 1])
        lon2, lat2 = np.radians(b[..., 0]), np.radians(b[..., 1])
        h = (
            np.sin((lat2 - lat1) / 2) ** 2
            + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
        )
        return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return np.sqrt(((a - b) ** 2).sum(axis=-1))


def _to_ints(problem: Problem, raw: FloatArray) -> tuple[IntArray, IntArray]:
    """Round raw distances by the problem's convention and derive durations."""
    if problem.metric == "euc_dimacs":
        dist = np.floor(10 * raw + 1e-9).astype(np.int64)
        return dist, dist
    dist = np.round(raw).astype(np.int64)
    if problem.metric == "euc_round":
        return dist, dist
    speed = problem.speed / 3.6 if problem.metric == "haversine" else problem.speed
    return dist, np.round(raw / speed).astype(np.int64)


def travel(problem: Problem, locs: IntArray) -> tuple[IntArray, IntArray]:
    """Full distance and duration matrices between the locations ``locs`` (a small block)."""
    locs = np.asarray(locs, dtype=np.int64)
    if problem.matrix is not None:
        dist, dur = problem.matrix
        return dist[np.ix_(locs, locs)].copy(), dur[np.ix_(locs, locs)].copy()
    pts = problem.coords[locs]
    return _to_ints(problem, _raw_distance(problem, pts[:, None, :], pts[None, :, :]))


def travel_pairs(problem: Problem, src: IntArray, dst: IntArray) -> tuple[IntArray, IntArray]:
    """Distances and durations of the legs ``src[k] -> dst[k]`` (element-wise)."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if problem.matrix is not None:
        dist, dur = problem.matrix
        return dist[src, dst], dur[src, dst]
    return _to_ints(problem, _raw_distance(problem, problem.coords[src], problem.coords[dst]))


def planar(problem: Problem, locs: IntArray) -> FloatArray:
    """Planar points of locations ``locs``, for geometric decomposition and plots."""
    pts = problem.coords[np.asarray(locs, dtype=np.int64)].astype(float)
    if problem.geographic:  # equirectangular projection, good enough for clustering
        lat0 = np.radians(problem.coords[:, 1].mean())
        pts = np.column_stack([pts[:, 0] * np.cos(lat0), pts[:, 1]])
    return pts
