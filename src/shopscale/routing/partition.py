"""Map step: split a large problem into sub-problems of a few hundred orders.

Orders go first to a home depot (the nearest start depot of a vehicle type that may serve
them: skills and capacity), then are split geographically by a registered partitioner.
Each sub-problem gets only vehicle types able to serve some of its orders, and the fleet is
shared among sub-problems in proportion to the demand they hold (counts add up exactly).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.cluster.vq import kmeans2

from shopscale.errors import ConfigError
from shopscale.routing.problem import FloatArray, IntArray, Problem, eligible_types, planar


class Partitioner(Protocol):
    """Split ``points`` (around ``centre``) into groups of about ``size`` indices."""

    def __call__(
        self, points: FloatArray, centre: FloatArray, size: int, seed: int
    ) -> list[IntArray]: ...


PARTITIONERS: dict[str, Partitioner] = {}


def register_partitioner(name: str) -> Callable[[Partitioner], Partitioner]:
    """Decorator adding a partitioner to the registry under ``name``."""

    def add(func: Partitioner) -> Partitioner:
        PARTITIONERS[name] = func
        return func

    return add


def get_partitioner(name: str) -> Partitioner:
    """The registered partitioner called ``name``."""
    if name not in PARTITIONERS:
        known = ", ".join(sorted(PARTITIONERS))
        raise ConfigError("<routes>", "routes.partitioner", f"unknown {name!r} (known: {known})")
    return PARTITIONERS[name]


@register_partitioner("sweep")
def sweep(points: FloatArray, centre: FloatArray, size: int, seed: int) -> list[IntArray]:
    """Angular sweep around ``centre``, cut into equal sectors; ``seed`` turns the start ray."""
    n = len(points)
    k = max(1, math.ceil(n / size))
    offset = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    angle = np.mod(np.arctan2(*(points - centre).T[::-1]) - offset, 2 * np.pi)
    order = np.argsort(angle, kind="stable")
    return [chunk for chunk in np.array_split(order, k) if len(chunk)]


@register_partitioner("kmeans")
def kmeans(points: FloatArray, centre: FloatArray, size: int, seed: int) -> list[IntArray]:
    """Barycentre (k-means) clusters; clusters over 1.5x ``size`` are re-split by sweep."""
    n = len(points)
    k = max(1, math.ceil(n / size))
    if k == 1:
        return [np.arange(n)]
    with warnings.catch_warnings():  # an empty cluster is fine: it is dropped below
        warnings.simplefilter("ignore")
        _, labels = kmeans2(points, k, seed=seed, minit="++", iter=20)
    groups: list[IntArray] = []
    for label in range(k):
        members = np.flatnonzero(labels == label)
        if len(members) > 1.5 * size:
            mid = points[members].mean(axis=0)
            groups += [members[g] for g in sweep(points[members], mid, size, seed)]
        elif len(members):
            groups.append(members)
    return groups


def apportion(total: int, weights: FloatArray) -> IntArray:
    """Integers summing to ``total`` in proportion to ``weights`` (largest remainder), with
    at least one for every positive weight while the total allows it."""
    weights = np.asarray(weights, dtype=float)
    out = np.zeros(len(weights), dtype=np.int64)
    positive = np.flatnonzero(weights > 0)
    if total <= 0 or not len(positive):
        return out
    floor_one = positive[: min(total, len(positive))]
    out[floor_one] = 1
    rest = total - len(floor_one)
    if rest:
        share = weights / weights.sum() * rest
        out += np.floor(share).astype(np.int64)
        left = total - int(out.sum())
        out[np.argsort(-(share - np.floor(share)), kind="stable")[:left]] += 1
    return out


@dataclass(frozen=True)
class Piece:
    """One sub-problem: order indices of the full problem and vehicles per type."""

    orders: IntArray
    counts: tuple[int, ...]


def share_fleet(problem: Problem, groups: list[IntArray]) -> list[Piece]:
    """Give each group of orders vehicles of the types that may serve them."""
    eligible = eligible_types(problem)
    weight = problem.demand.sum(axis=1) + 1.0
    counts = np.zeros((len(groups), len(problem.vehicles)), dtype=np.int64)
    for t, vehicle in enumerate(problem.vehicles):
        w = np.array([(weight[g] * eligible[g, t]).sum() for g in groups])
        counts[:, t] = apportion(vehicle.count, w)
    return [Piece(g, tuple(int(c) for c in counts[k])) for k, g in enumerate(groups)]


def home_depots(problem: Problem) -> IntArray:
    """Nearest start depot, per order, among the vehicle types that may serve it."""
    eligible = eligible_types(problem)
    points = planar(problem, problem.order_loc)
    depots = planar(problem, np.arange(problem.n_depots))
    starts = np.array([v.start_depot for v in problem.vehicles], dtype=np.int64)
    gap = ((points[:, None, :] - depots[None, starts, :]) ** 2).sum(axis=-1)
    gap = np.where(eligible, gap, np.inf)
    return starts[np.argmin(gap, axis=1)]


def split_problem(problem: Problem, *, size: int, partitioner: str, seed: int) -> list[Piece]:
    """Decompose by depot, then geography; every order lands in exactly one piece."""
    split = get_partitioner(partitioner)
    home = home_depots(problem)
    points = planar(problem, problem.order_loc)
    groups: list[IntArray] = []
    for depot in np.unique(home):
        members = np.flatnonzero(home == depot)
        centre = planar(problem, np.array([depot]))[0]
        groups += [members[g] for g in split(points[members], centre, size, seed)]
    return share_fleet(problem, groups)
