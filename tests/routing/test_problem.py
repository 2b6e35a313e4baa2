"""Reading tables and VRPLIB files, validation per row, and travel distances."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopscale.errors import InputError
from shopscale.routing.problem import Problem, travel, travel_pairs
from shopscale.routing.read import read_tables
from shopscale.routing.read_vrplib import read_vrplib
from shopscale.routing.rows import RowError


def test_reads_csv_tables(small_problem: Problem) -> None:
    """The CSV tables give 12 orders, 2 depots, 2 vehicle types and 2 load dimensions."""
    p = small_problem
    assert (p.n_orders, p.n_depots, len(p.vehicles), p.n_dims) == (12, 2, 2, 2)
    assert p.vehicles[1].skills == frozenset({"cold"})
    assert p.vehicles[1].max_reloads == 1
    assert p.pickup_loc[p.order_ids.index("o10")] >= 0
    assert not p.required[p.order_ids.index("o11")]


def test_reads_json_orders(rdata: Path) -> None:
    """JSON orders with lists and HH:MM:SS times read like CSV ones."""
    p = read_tables(rdata / "orders.json", rdata / "fleet.csv", rdata / "depots.csv")
    assert p.order_ids == ("o1", "o2", "o5", "o10")
    assert p.tw[1].tolist() == [0, 400]
    assert p.skills[2] == frozenset({"cold"})


def test_bad_orders_reported_per_row(rdata: Path) -> None:
    """Every bad order row is reported with its file, line and reason before any solving."""
    with pytest.raises(RowError) as err:
        read_tables(rdata / "bad_orders.csv", rdata / "fleet.csv", rdata / "depots.csv")
    lines = {line: reason for _, line, reason in err.value.problems}
    assert "negative demand" in lines[2]
    assert "ends (400) before it starts (500)" in lines[3]
    assert "no vehicle type can carry" in lines[4]
    assert "laser" in lines[5]
    assert "x and y" in lines[6]
    assert "not a number" in lines[7]
    assert "multiple time windows are not supported" in lines[8]
    assert "bad_orders.csv:2:" in str(err.value)


def test_bad_fleet_reported_per_row(rdata: Path) -> None:
    """Unknown depots, zero counts and reversed shifts are each reported with their row."""
    with pytest.raises(RowError) as err:
        read_tables(rdata / "orders.csv", rdata / "bad_fleet.csv", rdata / "depots.csv")
    lines = {line: reason for path, line, reason in err.value.problems if "fleet" in path}
    assert "unknown depot 'D9'" in lines[2]
    assert "count must be >= 1" in lines[3]
    assert "shift ends" in lines[4]


def test_missing_file_names_it(rdata: Path) -> None:
    """A missing input file is an InputError naming the file."""
    with pytest.raises(InputError, match=r"nope\.csv"):
        read_tables(rdata / "nope.csv", rdata / "fleet.csv", rdata / "depots.csv")


def test_reads_vrplib(rdata: Path) -> None:
    """A VRPLIB file's order ids are its node numbers and distances are rounded Euclidean."""
    p = read_vrplib(rdata / "tiny.vrp")
    assert p.order_ids == ("2", "3", "4", "5", "6")
    dist, _ = travel(p, np.array([0, 1, 2]))
    assert dist.tolist() == [[0, 5, 10], [5, 0, 5], [10, 5, 0]]


def test_haversine_distances_and_durations(rdata: Path) -> None:
    """Lat/lon inputs use haversine metres and durations at the given speed."""
    p = read_tables(
        rdata / "geo_orders.csv", rdata / "geo_fleet.csv", rdata / "geo_depots.csv", speed_kmh=36
    )
    dist, dur = travel_pairs(p, np.array([0]), np.array([1]))
    assert 1200 < dist[0] < 1400  # W -> a is about 1.3 km
    assert abs(dur[0] - dist[0] / 10) <= 1  # 36 km/h = 10 m/s
    assert p.tw[0].tolist() == [8 * 3600, 12 * 3600]


def test_subset_keeps_travel(small_problem: Problem) -> None:
    """A sub-problem's compacted locations give the same distances as the full problem."""
    orders = np.array([3, 9, 5])
    sub = small_problem.subset(orders, (1, 1))
    full = travel_pairs(
        small_problem, small_problem.order_loc[orders], small_problem.pickup_loc[orders]
    )
    part = travel_pairs(sub, sub.order_loc, sub.pickup_loc)
    assert full[0][1] == part[0][1]  # the one pickup pair (order o10)
    assert sub.origin.tolist() == orders.tolist()
