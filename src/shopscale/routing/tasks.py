"""Solver tasks and the local runner: a process pool that treats sub-problems like a cluster.

A task carries a compact sub-problem, so it pickles small; the same ``run_task`` runs in a
local worker process or in a Spark executor.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from shopscale.errors import EngineError
from shopscale.routing.plan import PlanRoute
from shopscale.routing.problem import Problem
from shopscale.routing.solve import SolveOutcome, solve_problem


@dataclass(frozen=True)
class SolveTask:
    """One sub-problem to solve with a time limit, seed and optional warm start."""

    problem: Problem
    time_limit_s: float
    seed: int
    initial: tuple[PlanRoute, ...] = ()
    deadline: float | None = None  # wall clock (time.time()) by which the solve must end


def run_task(task: SolveTask) -> SolveOutcome:
    """Solve one task (in whichever process or executor runs it)."""
    if task.problem.n_orders == 0 or not any(v.count for v in task.problem.vehicles):
        unserved = [int(o) for o in task.problem.origin]
        return SolveOutcome(routes=[], unserved=unserved, feasible=not unserved, iterations=0)
    return solve_problem(
        task.problem,
        time_limit_s=task.time_limit_s,
        seed=task.seed,
        initial=list(task.initial) or None,
        deadline=task.deadline,
    )


class Runner(Protocol):
    """Runs a batch of tasks and returns their outcomes in the same order."""

    name: str

    def run(self, tasks: list[SolveTask]) -> list[SolveOutcome]: ...

    def close(self) -> None: ...


class LocalRunner:
    """A pool of worker processes (spawned, so PyVRP state is never shared by fork)."""

    name = "local"

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)

    def run(self, tasks: list[SolveTask]) -> list[SolveOutcome]:
        """Solve ``tasks`` in parallel; order of results follows ``tasks``."""
        try:
            return list(self._pool.map(run_task, tasks))
        except Exception as exc:  # a worker failed or died: keep stage and engine names
            raise EngineError("solve", "local", f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Stop the worker processes."""
        self._pool.shutdown(wait=True, cancel_futures=True)
