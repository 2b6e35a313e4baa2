"""Travel matrix files: distances come from the file, missing locations are named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopscale.errors import InputError
from shopscale.routing.matrix import location_ids
from shopscale.routing.plan import Plan
from shopscale.routing.problem import Problem, travel
from shopscale.routing.read import read_tables
from shopscale.routing.solve import solve_problem
from tests.routing.conftest import assert_feasible


def _write_matrix(problem: Problem, path: Path, drop: str | None = None) -> None:
    """A Manhattan-distance matrix over the problem's location ids, rows in reverse order."""
    ids = location_ids(problem)[::-1]
    pts = {loc: problem.coords[k] for k, loc in enumerate(location_ids(problem))}
    keep = [i for i in ids if i != drop]
    xy = np.array([pts[i] for i in keep])
    dist = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=-1)
    np.savez(path, ids=np.array(keep), distance=dist, duration=dist * 2)


def test_matrix_file_sets_travel(
    small_problem: Problem, tables: dict[str, Path], tmp_path: Path
) -> None:
    """With --matrix, distances and durations are the file's, matched by location id."""
    _write_matrix(small_problem, tmp_path / "m.npz")
    p = read_tables(tables["orders"], tables["fleet"], tables["depots"], matrix=tmp_path / "m.npz")
    dist, dur = travel(p, np.array([0, 2]))
    expected = np.abs(p.coords[0] - p.coords[2]).sum()
    assert dist[0, 1] == expected and dur[0, 1] == 2 * expected
    outcome = solve_problem(p, time_limit_s=0.2)
    assert_feasible(p, Plan(outcome.routes, dict.fromkeys(outcome.unserved, "")))


def test_matrix_missing_location_named(
    small_problem: Problem, tables: dict[str, Path], tmp_path: Path
) -> None:
    """A matrix without a row for a pickup point is an InputError naming that location."""
    _write_matrix(small_problem, tmp_path / "m.npz", drop="o10@pickup")
    with pytest.raises(InputError, match="o10@pickup"):
        read_tables(tables["orders"], tables["fleet"], tables["depots"], matrix=tmp_path / "m.npz")
