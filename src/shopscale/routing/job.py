"""The routes job end to end: read -> validate -> plan -> check -> write files."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shopscale.errors import InputError
from shopscale.log import get_logger, timed
from shopscale.routing.check import CheckReport, check_plan
from shopscale.routing.feasibility import refuse_infeasible
from shopscale.routing.params import RoutingParams
from shopscale.routing.plan import Plan
from shopscale.routing.plan_io import write_plan
from shopscale.routing.problem import Problem
from shopscale.routing.publish import Staging, discard, prepare_out, publish
from shopscale.routing.read import read_tables
from shopscale.routing.read_vrplib import read_vrplib
from shopscale.routing.run import ProgressCallback, plan_routes

log = get_logger("routing.job")

TABLE_SUFFIXES = (".csv", ".json")


def read_problem(
    source: Path,
    *,
    fleet: Path | None = None,
    depots: Path | None = None,
    matrix: Path | None = None,
    speed_kmh: float = 50.0,
    speed: float = 1.0,
) -> Problem:
    """Read a VRPLIB file, or orders + fleet + depots tables (CSV or JSON)."""
    if source.suffix.lower() not in TABLE_SUFFIXES:
        if fleet or depots or matrix:
            raise InputError(source, "--fleet/--depots/--matrix go with CSV/JSON orders only")
        return read_vrplib(source)
    if fleet is None or depots is None:
        raise InputError(source, "orders tables need --fleet and --depots")
    return read_tables(source, fleet, depots, matrix=matrix, speed_kmh=speed_kmh, speed=speed)


def summarise(
    problem: Problem, plan: Plan, report: CheckReport, params: RoutingParams, **extra: Any
) -> dict[str, Any]:
    """The summary.json content (costs in the problem's currency or file convention)."""
    scale = problem.cost_scale
    unit = scale if problem.source_kind == "vrplib" else 1.0
    return {
        "name": problem.name,
        "cost": round(plan.cost * scale, 6),
        "cost_internal": plan.cost,
        "distance": round(plan.distance * unit, 3),
        "routes": len(plan.routes),
        "orders": problem.n_orders,
        "unserved": [
            {"order_id": problem.order_ids[i], "reason": why} for i, why in plan.unserved.items()
        ],
        "check": {"ok": report.ok, "violations": report.violations},
        "engine": params.engine,
        "params": dataclasses.asdict(params),
        "history": [{"t_s": t, "cost": round(c * scale, 6)} for t, c in plan.history],
        **extra,
    }


def plan_job(
    source: Path,
    out: Path,
    *,
    params: RoutingParams,
    fleet: Path | None = None,
    depots: Path | None = None,
    matrix: Path | None = None,
    on_progress: ProgressCallback | None = None,
    on_solve: Callable[[], None] | None = None,
    draw_map: bool = True,
) -> dict[str, Any]:
    """Plan routes for the inputs and write plan.csv/json, routes.geojson, summary, map.

    ``out`` is checked before anything is read and replaced whole at the end (a failure or an
    interrupt leaves the previous plan as it was). ``on_solve`` is called once the inputs are
    read, just before solving (a progress display starts there, so a bad input fails before
    any spinner appears)."""
    start = time.perf_counter()
    timings: dict[str, float] = {}
    staging = prepare_out(out)
    try:
        with timed(log, "read", timings):
            problem = read_problem(
                source,
                fleet=fleet,
                depots=depots,
                matrix=matrix,
                speed_kmh=params.speed_kmh,
                speed=params.speed,
            )
        with timed(log, "validate", timings):
            unreachable = refuse_infeasible(problem, source)
        inputs = {"source": source, "fleet": fleet, "depots": depots, "matrix": matrix}
        if on_solve is not None:
            on_solve()
        with timed(log, "solve", timings):
            plan = plan_routes(problem, params, on_progress=on_progress)
        for i in unreachable.keys() & plan.unserved.keys():  # the known reason, not a guess
            plan.unserved[i] = f"optional, cannot be served: {unreachable[i]}"
        with timed(log, "check", timings):
            report = check_plan(problem, plan)
        paths = {k: str(v.resolve()) if v else None for k, v in inputs.items()}
        summary = summarise(problem, plan, report, params, inputs=paths)
        with timed(log, "write", timings):
            _write(problem, plan, staging, summary, draw_map=draw_map)
        summary["timings"] = timings
        summary["time_s"] = round(time.perf_counter() - start, 3)
        _write_json(staging, "summary.json", summary)
        publish(staging)
    finally:
        discard(staging)  # nothing left behind once published, failed or interrupted
    return summary


def _write_json(staging: Staging, name: str, doc: dict[str, Any]) -> None:
    """One JSON file into the staging folder (a full disk is an input error naming --out)."""
    try:
        (staging.folder / name).write_text(json.dumps(doc, indent=2), "utf-8")
    except OSError as exc:
        raise _write_error(staging, exc) from None


def _write_error(staging: Staging, exc: OSError) -> InputError:
    """A failed write as one line naming --out; the previous plan is untouched."""
    reason = exc.strerror or str(exc)
    return InputError(staging.out, f"could not write the plan: {reason}; previous plan unchanged")


def _write(
    problem: Problem, plan: Plan, staging: Staging, summary: dict[str, Any], *, draw_map: bool
) -> None:
    """Every plan file into the staging folder."""
    try:
        doc = write_plan(problem, plan, staging.folder, summary)
        if draw_map:
            from shopscale.plotting.route_map import plot_route_map

            plot_route_map(doc, staging.folder / "map.png")
    except OSError as exc:
        raise _write_error(staging, exc) from None
