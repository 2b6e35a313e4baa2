"""Routing fixtures: the hand-made tables in tests/routing/data and a shared worker pool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shopscale.routing.check import check_plan
from shopscale.routing.plan import Plan
from shopscale.routing.problem import Problem
from shopscale.routing.read import read_tables
from shopscale.routing.tasks import LocalRunner

ROUTING_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def rdata() -> Path:
    """tests/routing/data: small tables (two depots, skills, a pickup pair, an optional order)."""
    return ROUTING_DATA


@pytest.fixture(scope="session")
def tables(rdata: Path) -> dict[str, Path]:
    """Paths of the valid orders, fleet and depots tables."""
    return {k: rdata / f"{k}.csv" for k in ("orders", "fleet", "depots")}


@pytest.fixture(scope="session")
def small_problem(tables: dict[str, Path]) -> Problem:
    """The 12-order, two-depot problem with skills, reloads, a pickup pair and an optional."""
    return read_tables(tables["orders"], tables["fleet"], tables["depots"])


@pytest.fixture(scope="session")
def runner() -> Iterator[LocalRunner]:
    """One local process pool (2 workers) shared by the whole session: spawning is slow."""
    pool = LocalRunner(2)
    yield pool
    pool.close()


def assert_feasible(problem: Problem, plan: Plan) -> None:
    """Run the independent checker on a plan a test produced; fail with its violations."""
    report = check_plan(problem, plan)
    assert report.ok, "\n".join(report.violations)
