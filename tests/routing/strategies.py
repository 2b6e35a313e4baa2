"""Hypothesis strategies for routing: small random but always-feasible delivery problems."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from shopscale.routing.problem import UNLIMITED, Problem, VehicleSpec


@st.composite
def problems(draw: st.DrawFn, max_orders: int = 40) -> Problem:
    """Problems with 1-2 depots, 1-3 vehicle types, skills, windows, pickups and optionals.

    Windows are wide and the fleet is large, so a plan serving every required order exists.
    """
    n = draw(st.integers(3, max_orders))
    n_dep = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    n_pick = int(rng.integers(0, min(4, n)))
    coords = rng.uniform(0, 100, size=(n_dep + n + n_pick, 2)).round()
    pickup_loc = np.full(n, -1, dtype=np.int64)
    pickup_loc[:n_pick] = n_dep + n + np.arange(n_pick)
    skills = tuple(frozenset({"cold"}) if rng.random() < 0.2 else frozenset() for _ in range(n))
    early = rng.integers(0, 600, size=n)
    tw = np.column_stack([early, early + 1500]).astype(np.int64)
    types = [
        VehicleSpec("big", n, (30,), 0, 0, shift_end=10_000, skills=frozenset({"cold"})),
        VehicleSpec("small", 2, (10,), n_dep - 1, n_dep - 1, fixed_cost=5, max_reloads=1),
    ]
    prize = np.where(rng.random(n) < 0.15, rng.integers(1, 200, size=n), 0).astype(np.int64)
    return Problem(
        name=f"random-{seed}",
        coords=coords,
        depot_ids=tuple(f"D{d}" for d in range(n_dep)),
        depot_tw=np.array([[0, UNLIMITED]] * n_dep, dtype=np.int64),
        order_ids=tuple(f"o{i}" for i in range(n)),
        order_loc=np.arange(n_dep, n_dep + n, dtype=np.int64),
        pickup_loc=pickup_loc,
        demand=rng.integers(0, 8, size=(n, 1)).astype(np.int64),
        service=rng.integers(0, 10, size=n).astype(np.int64),
        tw=tw,
        pickup_service=np.zeros(n, dtype=np.int64),
        pickup_tw=np.array([[0, UNLIMITED]] * n, dtype=np.int64),
        prize=prize,
        required=prize == 0,
        skills=skills,
        vehicles=tuple(types[: draw(st.integers(1, 2))]),
    )


@st.composite
def tampered_plans(draw: st.DrawFn, problem: Problem) -> list[list[tuple[str, int]]]:
    """Up to three routes of visits drawn freely (any order, repeats, pickups without
    deliveries): the checker must judge each order's coverage like a plain count does."""
    alphabet = [
        visit
        for i in range(problem.n_orders)
        for visit in ((("P", i), ("D", i)) if problem.pickup_loc[i] >= 0 else (("C", i),))
    ]
    route = st.lists(st.sampled_from(alphabet), max_size=8)
    return draw(st.lists(route, min_size=1, max_size=3))
