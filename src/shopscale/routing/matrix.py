"""Attach a travel matrix file (``.npz`` with ``ids``, ``distance``, ``duration``) to a problem.

Location ids are depot ids, order ids, and ``<order id>@pickup`` for pickup points.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from shopscale.errors import InputError
from shopscale.routing.problem import Problem


def location_ids(problem: Problem) -> list[str]:
    """The id of each location of ``problem``, in location order."""
    ids = [""] * len(problem.coords)
    for d, depot in enumerate(problem.depot_ids):
        ids[d] = depot
    for i, order in enumerate(problem.order_ids):
        ids[int(problem.order_loc[i])] = order
        if problem.pickup_loc[i] >= 0:
            ids[int(problem.pickup_loc[i])] = f"{order}@pickup"
    return ids


def attach_matrix(problem: Problem, path: Path) -> Problem:
    """Return ``problem`` using the matrix file's distances and durations."""
    if not path.is_file():
        raise InputError(path, "matrix file not found")
    try:
        with np.load(path, allow_pickle=False) as npz:
            ids = [str(i) for i in npz["ids"]]
            dist = np.asarray(npz["distance"])
            dur = np.asarray(npz["duration"]) if "duration" in npz else dist
    except (KeyError, ValueError, OSError) as exc:
        raise InputError(path, f"expected an .npz with ids, distance, duration: {exc}") from None
    n = len(ids)
    if dist.shape != (n, n) or dur.shape != (n, n):
        raise InputError(path, f"distance and duration must be {n}x{n} (one row per id)")
    if (dist < 0).any() or (dur < 0).any():
        raise InputError(path, "negative distance or duration")
    position = {loc: k for k, loc in enumerate(ids)}
    wanted = location_ids(problem)
    missing = [loc for loc in wanted if loc not in position]
    if missing:
        raise InputError(path, f"no row for location(s): {', '.join(missing[:10])}")
    perm = np.array([position[loc] for loc in wanted], dtype=np.int64)
    block = np.ix_(perm, perm)
    matrix = (np.round(dist[block]).astype(np.int64), np.round(dur[block]).astype(np.int64))
    return replace(problem, matrix=matrix, metric="matrix")
