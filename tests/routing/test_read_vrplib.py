"""VRPLIB reading: each problem type's required parts, node ids placed by id, line numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopscale.errors import InputError
from shopscale.routing.problem import travel
from shopscale.routing.read_vrplib import read_vrplib
from shopscale.routing.rows import RowError


def _problems(path: Path) -> dict[int | None, str]:
    """Every reported problem of a bad file, by line."""
    with pytest.raises(RowError) as err:
        read_vrplib(path)
    assert all(p == str(path) for p, _, _ in err.value.problems)
    return {line: reason for _, line, reason in err.value.problems}


def test_cvrp_without_demand_is_refused(rdata: Path) -> None:
    """A CVRP file without DEMAND_SECTION is refused in one line naming file and section,
    instead of being solved with zero demand."""
    with pytest.raises(InputError) as err:
        read_vrplib(rdata / "no_demand.vrp")
    text = str(err.value)
    assert text.startswith(f"{rdata / 'no_demand.vrp'}: a CVRP instance")
    assert "DEMAND_SECTION" in text
    assert "\n" not in text


def test_vrptw_needs_windows_and_capacity(rdata: Path) -> None:
    """A VRPTW file names every part it lacks (here CAPACITY and TIME_WINDOW_SECTION)."""
    with pytest.raises(InputError, match=r"VRPTW .*needs CAPACITY, TIME_WINDOW_SECTION"):
        read_vrplib(rdata / "vrptw_no_windows.vrp")


def test_duplicate_node_ids_name_ids_and_lines(rdata: Path) -> None:
    """A repeated node id is reported with its line and the line it first appeared on, and
    the node it displaced is reported missing."""
    lines = _problems(rdata / "duplicate_ids.vrp")
    assert lines[9] == "NODE_COORD_SECTION: node 2 appears again (first at line 8)"
    assert lines[15] == "DEMAND_SECTION: node 3 appears again (first at line 14)"
    assert "missing: 3" in lines[6]
    assert "missing: 4" in lines[11]


def test_dimension_mismatch_names_lines(rdata: Path) -> None:
    """Sections shorter or longer than DIMENSION are reported at their lines."""
    lines = _problems(rdata / "dimension_mismatch.vrp")
    assert lines[6] == "NODE_COORD_SECTION has 4 of the 5 nodes DIMENSION declares (missing: 5)"
    assert lines[17] == "DEMAND_SECTION: node 6 is outside 1..5 (DIMENSION is 5)"


def test_non_numbers_name_lines(rdata: Path) -> None:
    """Non-numeric or non-finite coordinates and fractional demands are reported by line."""
    lines = _problems(rdata / "bad_numbers.vrp")
    assert lines[8] == "NODE_COORD_SECTION: node 2: 'four' is not a number"
    assert lines[9] == "NODE_COORD_SECTION: node 3: 'nan' is not a finite number"
    assert lines[14] == "DEMAND_SECTION: node 3: '2.5' is not a whole number"
    assert lines[15] == "DEMAND_SECTION: node 4: 'x' is not a number"


def test_negative_demand_names_line(rdata: Path) -> None:
    """A negative demand is one line naming file, line and node."""
    with pytest.raises(InputError) as err:
        read_vrplib(rdata / "bad.vrp")
    assert str(err.value) == f"{rdata / 'bad.vrp'}:12: DEMAND_SECTION: node 2: -4 is negative"


def test_explicit_lower_row(rdata: Path) -> None:
    """An EXPLICIT LOWER_ROW section becomes the symmetric matrix it describes."""
    p = read_vrplib(rdata / "explicit.vrp")
    dist, _ = travel(p, np.arange(4))
    assert dist.tolist() == [[0, 5, 10, 4], [5, 0, 5, 9], [10, 5, 0, 14], [4, 9, 14, 0]]


def test_explicit_matrix_of_wrong_size(rdata: Path) -> None:
    """A FULL_MATRIX with too few values names the section's line and both counts."""
    lines = _problems(rdata / "explicit_short.vrp")
    assert lines[7] == "EDGE_WEIGHT_SECTION has 12 values; FULL_MATRIX for DIMENSION 4 needs 16"


def test_huge_dimension_is_refused_before_allocating(rdata: Path) -> None:
    """A DIMENSION far beyond the file's rows is refused at its line, not allocated."""
    path = rdata / "huge_dimension.vrp"
    with pytest.raises(InputError) as err:
        read_vrplib(path)
    assert str(err.value) == (
        f"{path}:3: DIMENSION is 1000000000 but the longest node section has 6 rows"
    )
