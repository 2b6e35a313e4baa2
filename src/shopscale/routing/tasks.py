"""Solver tasks and the local runner: a process pool that treats sub-problems like a cluster.

A task carries a compact sub-problem, so it pickles small; the same ``run_task`` runs in a
local worker process or in a Spark executor. The local runner is also a watchdog: a solve that
is still running ``GRACE_S`` past its deadline (a solver that ignores its own time limit) is
stopped and the run fails with a clear message instead of hanging.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from shopscale.errors import EngineError
from shopscale.routing.plan import PlanRoute
from shopscale.routing.problem import Problem
from shopscale.routing.solve import SolveOutcome, solve_problem

GRACE_S = 60.0
"""How long past its deadline a task may still run before the watchdog stops the workers."""


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

    def __init__(
        self,
        workers: int,
        *,
        task_fn: Callable[[SolveTask], SolveOutcome] = run_task,
        grace_s: float = GRACE_S,
    ) -> None:
        self._workers = workers
        self.task_fn = task_fn
        self.grace_s = grace_s
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            max_workers=self._workers, mp_context=context, initializer=_ignore_interrupts
        )

    def _hard_end(self, tasks: list[SolveTask]) -> float:
        """Wall-clock time by which every task must have ended, grace included."""
        now = time.time()
        serial = now + sum(t.time_limit_s for t in tasks)  # even one after the other
        ends = [t.deadline if t.deadline is not None else serial for t in tasks]
        return max(ends, default=now) + self.grace_s

    def run(self, tasks: list[SolveTask]) -> list[SolveOutcome]:
        """Solve ``tasks`` in parallel; order of results follows ``tasks``."""
        futures = [self._pool.submit(self.task_fn, task) for task in tasks]
        timeout = max(0.0, self._hard_end(tasks) - time.time())
        try:
            done, pending = wait(futures, timeout=timeout, return_when=FIRST_EXCEPTION)
        except BaseException:  # Ctrl-C: the workers ignore it, so stop them here, at once
            self._stop_workers(restart=False)
            raise
        failed = [exc for f in done if (exc := f.exception()) is not None]
        if pending:
            self._stop_workers()  # a failed batch or a hung solve: nothing may keep running
        if failed:  # a worker failed or died: keep stage and engine names
            first = failed[0]
            raise EngineError("solve", "local", f"{type(first).__name__}: {first}") from first
        if pending:
            raise EngineError(
                "solve",
                "local",
                f"{len(pending)} solver task(s) still running {self.grace_s:.0f} s after "
                "their time limit; the workers were stopped (a solver that ignores its time "
                "limit). Re-run with another --seed, and please report the instance.",
            )
        return [f.result() for f in futures]

    def _stop_workers(self, *, restart: bool = True) -> None:
        """Kill the worker processes (a hung native solve ignores cancellation) and start a
        fresh pool unless interrupted, so the runner stays usable."""
        # ProcessPoolExecutor has no public way to kill busy workers before Python 3.14.
        for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
            proc.kill()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if restart:
            self._pool = self._new_pool()

    def close(self) -> None:
        """Stop the worker processes."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def _ignore_interrupts() -> None:
    """Worker start-up: Ctrl-C reaches the whole process group, but only the driver acts on
    it (it kills the workers), so no worker dies mid-task with a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
