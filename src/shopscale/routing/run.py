"""Orchestration: read -> validate -> map (split) -> solve in parallel -> reduce (merge) ->
improve for rounds until the time budget is spent. Small instances are solved whole."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from shopscale.log import get_logger
from shopscale.routing.merge import improve as improve_pieces
from shopscale.routing.merge import merge, objective, regroup
from shopscale.routing.params import RoutingParams
from shopscale.routing.partition import split_problem
from shopscale.routing.plan import Plan
from shopscale.routing.problem import Problem
from shopscale.routing.tasks import LocalRunner, Runner, SolveTask

log = get_logger("routing.run")

MIN_TASK_S = 0.3
"""Shortest solver time worth starting a round for."""

ROUTES_PER_PIECE = 8
"""Minimum number of routes a sub-problem should hold (see ``piece_size``)."""

MAX_ROUND_S = 10.0
"""Longest automatic solver time per piece in a round: more, shorter rounds re-cut the plan
more often (Leuven2 at 600 s: 2.90 % with 30 s, 2.23 % with 10 s; docs/routing.md)."""

END_MARGIN_S = 0.5
"""Wall time kept back at the end for merging and writing the plan."""


@dataclass(frozen=True)
class Progress:
    """What the progress display shows after each phase."""

    phase: str
    round: int
    best_cost: int
    unserved: int
    time_left_s: float


ProgressCallback = Callable[[Progress], None]


def make_runner(params: RoutingParams) -> Runner:
    """The task runner for ``params.engine`` (Spark is imported only when chosen)."""
    if params.engine == "spark":
        from shopscale.routing.spark_tasks import SparkRunner

        return SparkRunner(params.spark_master)
    return LocalRunner(params.workers)


def piece_size(problem: Problem, params: RoutingParams, plan: Plan | None = None) -> int:
    """Orders per sub-problem: ``subproblem_size``, but at least ``ROUTES_PER_PIECE`` routes'
    worth, so instances with long routes still give each piece several routes to exchange."""
    if plan is not None and plan.routes:
        per_route = sum(len(r.orders()) for r in plan.routes) / len(plan.routes)
    else:
        capacity = min(v.capacity[0] for v in problem.vehicles)
        mean_demand = max(1.0, float(problem.demand[:, 0].mean())) if problem.n_orders else 1.0
        per_route = capacity / mean_demand
    size = max(params.subproblem_size, round(ROUTES_PER_PIECE * per_route))
    return min(size, max(params.whole_max_orders, params.subproblem_size))


def _batches(n_tasks: int, workers: int) -> int:
    """Waves of tasks a pool of ``workers`` needs for ``n_tasks``."""
    return max(1, math.ceil(n_tasks / workers))


def _whole(problem: Problem) -> Problem:
    """The whole instance as one sub-problem: every order, the whole fleet."""
    return problem.subset(problem.origin, tuple(v.count for v in problem.vehicles))


def _solve_whole(problem: Problem, params: RoutingParams, runner: Runner, left: float) -> Plan:
    """One PyVRP run on the whole instance with the remaining budget."""
    limit = max(MIN_TASK_S, left)
    task = SolveTask(
        _whole(problem), limit, params.seed, deadline=time.time() + limit - END_MARGIN_S
    )
    return merge(problem, runner.run([task]))


def best_plan(problem: Problem, plans: list[Plan]) -> Plan:
    """The plan with the lowest objective (cost, prizes, unserved penalty); first on ties."""
    return min(plans, key=lambda p: objective(problem, p.routes, list(p.unserved)))


def _whole_start(problem: Problem, params: RoutingParams, runner: Runner) -> Plan:
    """First plan of a mid-size instance: one whole-instance solve per worker, each with its
    own seed, for ``initial_share`` of the budget; the best is kept.

    A geographic split cuts long routes at its borders (Leuven2: 7.7 % off and one route too
    many after 150 s); a whole solve has no borders (3.1 %, 46 routes; docs/routing.md).
    """
    sub = _whole(problem)
    limit = max(MIN_TASK_S, params.time_limit_s * params.initial_share)
    log.info("whole-instance start: %d solves of %.1f s", params.workers, limit)
    end = time.time() + params.time_limit_s - END_MARGIN_S
    tasks = [SolveTask(sub, limit, params.seed + k, deadline=end) for k in range(params.workers)]
    return best_plan(problem, [merge(problem, [out]) for out in runner.run(tasks)])


def _initial(problem: Problem, params: RoutingParams, runner: Runner) -> Plan:
    """Map: split the problem and solve every piece once (mid-size instances: whole solves)."""
    if problem.n_orders <= params.whole_start_max_orders:
        return _whole_start(problem, params, runner)
    size = piece_size(problem, params)
    pieces = split_problem(problem, size=size, partitioner=params.partitioner, seed=params.seed)
    waves = _batches(len(pieces), params.workers)
    limit = max(MIN_TASK_S, params.time_limit_s * params.initial_share / waves)
    log.info("split %d orders into %d pieces; %.1f s each", problem.n_orders, len(pieces), limit)
    end = time.time() + params.time_limit_s - END_MARGIN_S
    tasks = [
        SolveTask(problem.subset(p.orders, p.counts), limit, params.seed + k, deadline=end)
        for k, p in enumerate(pieces)
    ]
    return merge(problem, runner.run(tasks))


def _round(
    problem: Problem,
    plan: Plan,
    params: RoutingParams,
    runner: Runner,
    k: int,
    left: float,
    reserve: float = END_MARGIN_S,
) -> tuple[Plan, float] | None:
    """Reduce: one route-based re-decomposition round; ``None`` when no time is left.

    ``reserve`` is wall time kept back for this process's own work around the solves
    (regroup, merge); returns the new plan and how long that work took this round.
    """
    started = time.perf_counter()
    left -= reserve - END_MARGIN_S
    size = piece_size(problem, params, plan)
    if params.large_round_every and k % params.large_round_every == 0:
        size *= 2
    pieces = regroup(problem, plan, size=size, seed=params.seed + 1000 * k)
    waves = _batches(len(pieces), params.workers)
    limit = params.round_time_s
    if not limit:
        rest = params.time_limit_s * (1 - params.initial_share)
        limit = min(MAX_ROUND_S, max(1.0, rest / (5 * waves)))
    limit = min(limit, 0.9 * left / waves)
    if limit < MIN_TASK_S:
        return None
    end = time.time() + left - END_MARGIN_S
    tasks = [
        SolveTask(
            problem.subset(p.orders, p.counts),
            limit,
            params.seed + 7919 * k + j,
            tuple(p.routes),
            deadline=end,
        )
        for j, p in enumerate(pieces)
    ]
    solve_start = time.perf_counter()
    outcomes = runner.run(tasks)
    solve_s = time.perf_counter() - solve_start
    new_plan, gain = improve_pieces(problem, pieces, outcomes)
    own_s = time.perf_counter() - started - solve_s
    log.debug(
        "round %d: %d pieces of %.1f s, gain %d, own work %.1f s",
        k,
        len(pieces),
        limit,
        gain,
        own_s,
    )
    return new_plan, own_s


def plan_routes(
    problem: Problem,
    params: RoutingParams,
    *,
    on_progress: ProgressCallback | None = None,
    runner: Runner | None = None,
) -> Plan:
    """Plan routes for ``problem`` within ``params.time_limit_s`` seconds of wall time."""
    start = time.perf_counter()
    deadline = start + params.time_limit_s
    own = runner is None
    active = runner if runner is not None else make_runner(params)

    def report(plan: Plan, phase: str, k: int) -> None:
        left = max(0.0, deadline - time.perf_counter())
        plan.history.append((round(time.perf_counter() - start, 3), plan.cost))
        if on_progress is not None:
            on_progress(Progress(phase, k, plan.cost, len(plan.unserved), left))

    try:
        if problem.n_orders <= params.whole_max_orders:
            plan = _solve_whole(problem, params, active, deadline - time.perf_counter())
            report(plan, "whole", 0)
        else:
            plan = _initial(problem, params, active)
            report(plan, "initial", 0)
            k, reserve = 1, END_MARGIN_S
            while nxt := _round(
                problem, plan, params, active, k, deadline - time.perf_counter(), reserve
            ):
                nxt[0].history.extend(plan.history)
                plan = nxt[0]
                # keep back what a round's own work took (with slack), so the last round
                # ends inside the budget even when regrouping and merging take seconds
                reserve = max(reserve, END_MARGIN_S + 1.5 * nxt[1])
                report(plan, f"round {k}", k)
                k += 1
    finally:
        if own:
            active.close()
    plan.timings["solve_s"] = round(time.perf_counter() - start, 3)
    return plan
