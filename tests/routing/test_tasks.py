"""The local runner's watchdog: a solve that ignores its time limit cannot hang a plan."""

from __future__ import annotations

import time

import pytest

from shopscale.errors import EngineError
from shopscale.routing.problem import Problem
from shopscale.routing.solve import SolveOutcome
from shopscale.routing.tasks import LocalRunner, SolveTask, run_task


def stuck_solve(task: SolveTask) -> SolveOutcome:
    """Stands in for a native solve that never returns (runs in a worker process)."""
    time.sleep(3600)
    return run_task(task)


def failing_solve(task: SolveTask) -> SolveOutcome:
    """A solve that crashes in the worker."""
    raise RuntimeError(f"solver crashed on {task.problem.n_orders} orders")


def test_a_solve_past_its_deadline_is_stopped_and_named(small_problem: Problem) -> None:
    """The runner kills workers still busy after deadline + grace, says so in one error, and
    can run the next batch in a fresh pool."""
    runner = LocalRunner(2, task_fn=stuck_solve, grace_s=1.0)
    try:
        task = SolveTask(small_problem, time_limit_s=0.1, seed=0, deadline=time.time() + 0.1)
        with pytest.raises(EngineError, match=r"2 solver task\(s\) still running 1 s after"):
            runner.run([task, task])
        runner.task_fn, runner.grace_s = run_task, 120.0  # same runner, the real solver
        outcome = runner.run([SolveTask(small_problem, time_limit_s=0.5, seed=0)])[0]
        served = {o for r in outcome.routes for o in r.orders()} | set(outcome.unserved)
        assert served == {int(o) for o in small_problem.origin}
    finally:
        runner.close()


def test_a_crashing_worker_is_an_engine_error_naming_the_cause(small_problem: Problem) -> None:
    """A failure inside a worker surfaces as EngineError with stage, engine and cause."""
    runner = LocalRunner(1, task_fn=failing_solve)
    try:
        task = SolveTask(small_problem, time_limit_s=0.1, seed=0)
        with pytest.raises(EngineError, match=r"solve.*local.*solver crashed on 12 orders"):
            runner.run([task, task])
    finally:
        runner.close()
