"""``shopscale routes plan|check|show``: plan delivery routes, check a plan, summarise it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.table import Table
from rich.text import Text

from shopscale.cli._common import (
    RoutesConfigOption,
    VerboseOption,
    console,
    load_config,
    out,
    setup_logging,
)
from shopscale.config import load_params
from shopscale.errors import ConfigError, EngineError, InputError

routes_app = typer.Typer(
    name="routes",
    help="Plan the day's delivery routes (PyVRP, decomposed map/reduce), check and show plans.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

SourceArg = Annotated[
    Path, typer.Argument(help="orders.csv/.json (with --fleet, --depots) or a VRPLIB .vrp file")
]
FleetOption = Annotated[Path | None, typer.Option("--fleet", help="fleet table (CSV or JSON)")]
DepotsOption = Annotated[Path | None, typer.Option("--depots", help="depots table (CSV or JSON)")]
MatrixOption = Annotated[
    Path | None,
    typer.Option("--matrix", help=".npz with ids, distance, duration (else from coordinates)"),
]


class TimeLeftColumn(ProgressColumn):
    """Seconds left in the budget, ticking live between rounds."""

    def render(self, task: Task) -> Text:
        """Render the remaining budget of ``task``."""
        deadline = task.fields.get("deadline", time.monotonic())
        return Text(f"{max(0.0, deadline - time.monotonic()):6.0f} s left", style="cyan")


@contextmanager
def _progress(
    budget_s: float, engine: str
) -> Iterator[tuple[Callable[[], None], Callable[[Any], None]]]:
    """(start, update) of a live line with phase or round, best cost, unserved orders and time
    left; it appears only when ``start`` is called (once the inputs are read)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeLeftColumn())
    bar = Progress(*columns, console=console)
    task = bar.add_task(f"solving ({engine})", deadline=time.monotonic() + budget_s, start=False)

    def start() -> None:
        bar.update(task, deadline=time.monotonic() + budget_s)
        bar.start_task(task)
        bar.start()

    def on_progress(p: Any) -> None:
        bar.update(
            task,
            description=f"{p.phase}: best cost {p.best_cost:,} ({p.unserved} unserved)",
            deadline=time.monotonic() + p.time_left_s,
        )

    try:
        yield start, on_progress
    finally:
        if bar.live.is_started:  # stopping a bar never started would print a blank line
            bar.stop()


def _overrides(time_limit: str | None, **flags: Any) -> dict[str, Any]:
    """CLI flags as ``RoutingParams`` overrides (``None`` means 'not given')."""
    from shopscale.routing.params import parse_duration

    if time_limit is not None:
        try:
            flags["time_limit_s"] = parse_duration(time_limit)
        except ValueError as exc:
            raise ConfigError("--time-limit", "routes.time_limit_s", str(exc)) from None
    return flags


@routes_app.command("plan")
def plan(
    source: SourceArg,
    out_dir: Annotated[Path, typer.Option("--out", help="directory for the plan files")],
    fleet: FleetOption = None,
    depots: DepotsOption = None,
    matrix: MatrixOption = None,
    time_limit: Annotated[
        str | None, typer.Option("--time-limit", help="wall-clock budget: 90s, 10m, 1h")
    ] = None,
    engine: Annotated[str | None, typer.Option("--engine", help="local or spark")] = None,
    master: Annotated[
        str | None, typer.Option("--master", help="Spark master URL (--engine spark)")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed")] = None,
    workers: Annotated[int | None, typer.Option("--workers", help="local processes")] = None,
    subproblem_size: Annotated[
        int | None, typer.Option("--subproblem-size", help="orders per sub-problem")
    ] = None,
    config: RoutesConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Plan routes and write plan.csv, plan.json, routes.geojson, map.png, summary.json."""
    from shopscale.routing.job import plan_job
    from shopscale.routing.params import RoutingParams

    setup_logging(verbose)
    cfg, source_name = load_config(config)
    overrides = _overrides(
        time_limit,
        engine=engine,
        spark_master=master,
        seed=seed,
        workers=workers,
        subproblem_size=subproblem_size,
    )
    params = load_params(
        RoutingParams,
        cfg,
        "routes",
        source=source_name,
        overrides=overrides,
        flag_names={"time_limit_s": "--time-limit", "spark_master": "--master"},
    )
    try:
        with _progress(params.time_limit_s, params.engine) as (on_solve, on_progress):
            summary = plan_job(
                source,
                out_dir,
                params=params,
                fleet=fleet,
                depots=depots,
                matrix=matrix,
                on_progress=on_progress,
                on_solve=on_solve,
            )
    except KeyboardInterrupt:  # typer would turn it into a plain return code (exit 0)
        console.print(f"interrupted; {out_dir} is as it was before this run")
        raise SystemExit(130) from None
    _print_summary(summary, out_dir)
    if not summary["check"]["ok"]:
        _refuse_failed_plan(summary, source, out_dir, params.engine)


def _refuse_failed_plan(summary: dict[str, Any], source: Path, out_dir: Path, engine: str) -> None:
    """A plan that failed the checker: required orders left unserved is the input's limit
    (only the solve could tell); any other violation is a fault of ours."""
    violations = summary["check"]["violations"]
    for line in violations[:20]:
        console.print(f"  [red]{line}[/]", highlight=False)
    missing = [v.split()[2] for v in violations if v.startswith("required order ")]
    if len(missing) == len(violations):
        shown = ", ".join(missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise InputError(
            source,
            f"no plan serves every required order within the time limit: {len(missing)} left "
            f"unserved ({shown}); the fleet may be too small for the windows. The partial "
            f"plan is in {out_dir} and marked as failed",
        )
    raise EngineError("check", engine, "the plan failed the independent checker")


def _print_summary(summary: dict[str, Any], out_dir: Path) -> None:
    """One table with the plan's headline numbers."""
    table = Table(title=f"routes for {summary['name']}")
    for col in ("cost", "distance", "routes", "orders", "unserved", "checked", "time (s)"):
        table.add_column(col, justify="right")
    table.add_row(
        f"{summary['cost']:,}",
        f"{summary['distance']:,}",
        str(summary["routes"]),
        str(summary["orders"]),
        str(len(summary["unserved"])),
        "ok" if summary["check"]["ok"] else "FAILED",
        f"{summary.get('time_s', 0):.1f}",
    )
    out.print(table)
    out.print(f"plan written to {out_dir}/ (plan.csv, plan.json, routes.geojson, map.png)")


@routes_app.command("check")
def check(
    plan_dir: Annotated[Path, typer.Argument(help="directory written by `routes plan`")],
    source: SourceArg,
    fleet: FleetOption = None,
    depots: DepotsOption = None,
    matrix: MatrixOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Check a plan against the inputs with the independent checker (exit 1 if infeasible)."""
    from shopscale.routing.check import check_plan
    from shopscale.routing.job import read_problem
    from shopscale.routing.plan_io import read_document, read_plan

    setup_logging(verbose)
    if source.suffix.lower() in (".csv", ".json") and depots is None:
        recorded = read_document(plan_dir, "summary.json").get("inputs", {}).get("depots")
        depots = Path(recorded) if recorded else None
    problem = read_problem(source, fleet=fleet, depots=depots, matrix=matrix)
    plan, reported = read_plan(plan_dir, problem)
    report = check_plan(problem, plan, reported_cost=reported)
    if report.ok:
        cost = report.cost * problem.cost_scale
        out.print(f"[green]ok[/]: {report.routes} routes, cost {cost:,.6g}, all constraints hold")
        return
    for line in report.violations:
        out.print(f"[red]violation[/]: {line}", highlight=False)
    raise SystemExit(1)  # not typer.Exit: main() runs click with standalone_mode=False


@routes_app.command("show")
def show(
    plan_dir: Annotated[Path, typer.Argument(help="directory written by `routes plan`")],
) -> None:
    """Print a per-vehicle-type summary of a plan and (re)draw its map.png; a plan that failed
    the independent check is flagged as such and exits 1."""
    from shopscale.plotting.route_map import plot_route_map
    from shopscale.routing.plan_io import read_document

    doc = read_document(plan_dir, "plan.json")
    summary = read_document(plan_dir, "summary.json")
    scale = doc.get("cost_scale", 1.0)
    table = Table(title=f"{doc.get('name')}: cost {summary.get('cost')}")
    for col in ("vehicle type", "routes", "stops", "distance", "cost"):
        table.add_column(col, justify="right")
    by_type: dict[str, list[int]] = {}
    for r in doc.get("routes", []):
        row = by_type.setdefault(r["vehicle_type"], [0, 0, 0, 0])
        row[0] += 1
        row[1] += len(r["stops"])
        row[2] += r["distance"]
        row[3] += r["cost"]
    for name, (n, stops, dist, cost) in by_type.items():
        dist_file = dist * doc.get("distance_scale", 1.0)  # VRPTW: tenths -> file units
        table.add_row(name, str(n), str(stops), f"{dist_file:,.6g}", f"{cost * scale:,.6g}")
    out.print(table)
    check = summary.get("check", {})
    if not check.get("ok", False):
        violations = check.get("violations", ["no check verdict recorded"])
        out.print(
            f"[bold red]CHECK FAILED[/]: this plan violates {len(violations)} constraint(s); "
            "do not dispatch it:",
            highlight=False,
        )
        for line in violations[:10]:
            out.print(f"  [red]{line}[/]", highlight=False)
    unserved = summary.get("unserved", [])
    out.print(f"unserved orders: {len(unserved)}")
    for item in unserved[:10]:
        out.print(f"  {item['order_id']}: {item['reason']}", highlight=False)
    path = plot_route_map(doc, plan_dir / "map.png")
    out.print(f"map: {path}")
    if not check.get("ok", False):
        raise SystemExit(1)  # like `routes check`: scripts must not take this plan


def register(app: typer.Typer) -> None:
    """Add the ``routes`` sub-command group to the main app."""
    app.add_typer(routes_app, name="routes")
