"""Up-front infeasibility: refused before solving, naming order ids in the file's units."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.errors import InputError
from shopscale.routing.check import check_plan
from shopscale.routing.feasibility import _verdict, refuse_infeasible
from shopscale.routing.plan import Plan, PlanRoute
from shopscale.routing.problem import Problem
from shopscale.routing.read import read_tables
from shopscale.routing.read_vrplib import read_vrplib
from shopscale.routing.rows import RowError
from tests.routing.strategies import problems


def _refusal(path: Path) -> str:
    """The error refusing a VRPLIB file before solving."""
    with pytest.raises(InputError) as err:
        refuse_infeasible(read_vrplib(path), path)
    return str(err.value)


def test_windows_no_route_can_meet(rdata: Path) -> None:
    """Orders whose window closes before a truck can arrive, or that cannot return before the
    depot closes, are named by node number with times in the file's units (not tenths)."""
    path = rdata / "unreachable_windows.vrp"
    with pytest.raises(RowError) as err:
        refuse_infeasible(read_vrplib(path), path)
    assert [r for _, _, r in err.value.problems] == [
        "order 2: its window ends at 20 but the earliest arrival from depot 1 is 50",
        "order 4: the earliest return to depot 1 is 105, after the shift or depot closes at 100",
    ]


def test_demand_above_every_capacity(rdata: Path) -> None:
    """An order heavier than any vehicle is named with its demand and the capacity."""
    path = rdata / "too_heavy.vrp"
    assert _refusal(path) == f"{path}: order 3: demand 12 > capacity 10"


def test_zero_vehicles(rdata: Path) -> None:
    """VEHICLES : 0 is refused before solving."""
    path = rdata / "no_vehicles.vrp"
    assert _refusal(path) == f"{path}: the fleet has no vehicles (every vehicle count is 0)"


def test_total_demand_above_fleet(rdata: Path) -> None:
    """Required demand above what the whole fleet can carry is refused with both amounts."""
    path = rdata / "fleet_too_small.vrp"
    assert "required orders need 18 in total but the whole fleet carries at most 10" in _refusal(
        path
    )


def test_demand_only_some_types_can_carry(tables: dict[str, Path], rdata: Path) -> None:
    """Cold orders need more than the cold vehicles carry, counting their reloads."""
    orders = rdata / "cold_heavy.csv"
    problem = read_tables(orders, tables["fleet"], tables["depots"])
    with pytest.raises(
        InputError,
        match=r"orders only fridge can serve need 40;5 in total but "
        r"vehicle type fridge carries at most 32;16",
    ):
        refuse_infeasible(problem, orders)


def test_tables_name_ids_and_clock_times(tables: dict[str, Path], rdata: Path) -> None:
    """A required order no type can serve is refused with each type's reason, times in
    seconds and clock time; an optional one is not refused but gets its reason."""
    orders = rdata / "unreachable_orders.csv"
    problem = read_tables(orders, tables["fleet"], tables["depots"])
    with pytest.raises(InputError) as err:
        refuse_infeasible(problem, orders)
    text = str(err.value)
    assert text.startswith(f"{orders}: order late: no vehicle type can serve it (van: ")
    assert "after the shift or depot closes at 1500 s (00:25)" in text
    assert "far_optional" not in text
    optional = replace(problem, required=np.array([o != "late" for o in problem.order_ids]))
    optional = replace(optional, required=optional.required & (optional.prize == 0))
    reasons = refuse_infeasible(optional, orders)
    far = problem.order_ids.index("far_optional")
    assert "its window ends at 60 s (00:01)" in reasons[far]


def _alone(problem: Problem, i: int, t: int) -> list[str]:
    """The checker's verdict on order ``i`` served alone by vehicle type ``t`` (coverage of
    the other orders and route cost left out)."""
    kinds = (("P", i), ("D", i)) if problem.pickup_loc[i] >= 0 else (("C", i),)
    plan = Plan([PlanRoute(t, kinds, 0, 0, 0, 0, 0)])
    skip = ("not served", "reported", "routes > count")
    return [v for v in check_plan(problem, plan).violations if not any(s in v for s in skip)]


@settings(max_examples=40, deadline=None)
@given(problem=problems(max_orders=10), data=st.data())
def test_refusal_agrees_with_checker(problem: Problem, data: st.DataObject) -> None:
    """With tight windows and shifts, an order the pre-check rules out for a vehicle type
    fails the independent checker when that type serves it alone, and one it allows passes
    every check but the duration limit (waiting is not counted up front)."""
    n = problem.n_orders
    early = np.asarray(data.draw(st.lists(st.integers(0, 300), min_size=n, max_size=n)))
    width = np.asarray(data.draw(st.lists(st.integers(0, 150), min_size=n, max_size=n)))
    shift = data.draw(st.integers(100, 600))
    problem = replace(
        problem,
        tw=np.column_stack([early, early + width]).astype(np.int64),
        vehicles=tuple(replace(v, shift_end=shift, max_distance=250) for v in problem.vehicles),
    )
    verdict = _verdict(problem)
    for i in range(n):
        for t in range(len(problem.vehicles)):
            found = _alone(problem, i, t)
            if verdict.ok[i, t]:
                assert [v for v in found if "duration" not in v] == []
            else:
                assert found, verdict.why[(i, t)]


@settings(max_examples=30, deadline=None)
@given(problem=problems(max_orders=30))
def test_feasible_problems_pass(problem: Problem) -> None:
    """Problems built to be solvable (wide windows, a large fleet) are never refused."""
    refuse_infeasible(problem, Path("generated"))
