"""``shopscale evaluate`` and ``shopscale tune``: measure quality offline, tune from evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast, get_args

import typer
from rich import box
from rich.table import Table

from shopscale.cli._common import EventsConfigOption, VerboseOption, load_config, out, setup_logging
from shopscale.config import load_params, make_params
from shopscale.errors import ConfigError
from shopscale.evaluate.catalogue import MODELS, resolve_models
from shopscale.evaluate.data import load_events
from shopscale.evaluate.models import Adopt, Search
from shopscale.evaluate.report import search_lines, signed
from shopscale.evaluate.run import EvaluateParams, SearchResult, evaluate, search_settings
from shopscale.evaluate.split import TASKS, Task, parse_split
from shopscale.evaluate.tune import (
    BLEND_GRID,
    SHOPSCALE_DEFAULTS,
    SHOPSCALE_GRID,
    write_config,
)
from shopscale.events import EventsParams
from shopscale.store.paths import check_output_file, check_output_folder, writing

SplitOption = Annotated[
    str, typer.Option(help="time:F | leave-last-out | holdout:F (logs without timestamps).")
]
JOB_LOGGERS = ("recommend", "engine", "store")
"""The batch job's loggers: their stage timings, once per model run, stay off the screen."""
PrimaryOption = Annotated[str, typer.Option(help="The action recommended for.")]
SeedOption = Annotated[int, typer.Option(help="Seed of the holdout split and of tuning.")]


def _ints(value: str) -> tuple[int, ...]:
    """``"10,20"`` -> ``(10, 20)``."""
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            "command line", "--k", f"expected comma-separated integers, got {value!r}"
        ) from None


def _events(config: Path | None) -> EventsParams:
    """The ``[events]`` section of the config (column names, renames)."""
    cfg, source = load_config(config)
    return load_params(EventsParams, cfg, "events", source=source)


BLEND_START = {k: v for k, v in MODELS["shopscale-blend"].defaults.items() if k in BLEND_GRID}
"""Where ``tune --model shopscale-blend`` starts: the prototype's defaults on its grid's keys."""

FLAGS = {"k": "--k", "tasks": "--tasks", "primary": "--primary", "budget": "--budget"}
"""The flag of each ``EvaluateParams`` setting, named when its value is refused."""


def evaluate_cmd(
    inputs: Annotated[list[str], typer.Argument(help="Event files, folders or globs.")],
    split: SplitOption = "time:0.9",
    k: Annotated[str, typer.Option(help="Cut-offs, comma-separated.")] = "10,20",
    baselines: Annotated[
        str, typer.Option(help="Comma list of models or aliases (all, itemknn, shopscale-classic).")
    ] = "all",
    tasks: Annotated[str, typer.Option(help="next-purchase,discovery")] = ",".join(TASKS),
    budget: Annotated[int, typer.Option(help="Configurations tried per model on validation.")] = 6,
    report: Annotated[
        Path | None, typer.Option(help="Folder for index.html, PNG plots and results.json.")
    ] = None,
    primary: PrimaryOption = "purchased",
    seed: SeedOption = 42,
    config: EventsConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Compare shopscale with the usual baselines on one log, each tuned on validation.

    Example:  shopscale evaluate events.csv --split time:0.9 --k 10,20 --report report/
    """
    setup_logging(verbose, quiet=JOB_LOGGERS)
    models = resolve_models(baselines)
    values = {
        "split": parse_split(split, seed=seed),
        "k": _ints(k),
        "tasks": tuple(t.strip() for t in tasks.split(",") if t.strip()),
        "models": tuple(m for m in MODELS if m in {*models, "shopscale", "shopscale-blend"}),
        "primary": primary,
        "budget": budget,
    }
    params = make_params(
        EvaluateParams, values, source="command line", section="evaluate", flags=FLAGS
    )
    events = _events(config)
    if report is not None:
        check_output_folder(report)
    data = load_events(inputs, events)
    result = evaluate(data, params, progress=lambda msg: out.print(f"[dim]{msg}[/]"))
    print_results(result)
    for line in search_lines(result):
        out.print(line, highlight=False)
    if report is not None:
        from shopscale.evaluate.report import write_report

        with writing(report):
            page = write_report(result, report)
        out.print(f"report: {page}")


METRICS = ("ndcg", "recall", "precision", "map", "hit_rate", "coverage")


def print_results(result: dict[str, Any]) -> None:
    """One table per task and k: every model's metrics, model share and seconds."""
    for task in result["params"]["tasks"]:
        users = result["data"]["test_users"][task]
        for kk in result["params"]["k"]:
            # A light box and no wrapping keep every figure whole on an 80-column terminal
            # (a boxed table cut NDCG down to "0.0…" there).
            table = Table(
                title=f"{task} @{kk} ({users:,} test users)",
                title_justify="left",
                box=box.SIMPLE_HEAD,
                pad_edge=False,
                collapse_padding=True,
            )
            table.add_column("model", no_wrap=True, overflow="ellipsis")
            for m in ("ndcg", "recall", "prec", "map", "hit", "cover", "share", "s"):
                table.add_column(m, justify="right", no_wrap=True, min_width=4)
            for name, model in result["models"].items():
                v = model["tasks"][task]
                cells = [f"{v[f'{m}@{kk}']:.3f}" for m in METRICS]
                table.add_row(name, *cells, f"{v['model_share']:.2f}", f"{model['seconds']:.1f}")
            out.print(table)


def tune_cmd(
    inputs: Annotated[list[str], typer.Argument(help="Event files, folders or globs.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Config file to write.")] = Path(
        "shopscale.toml"
    ),
    split: SplitOption = "time:0.9",
    model: Annotated[str, typer.Option(help="shopscale | shopscale-blend.")] = "shopscale",
    budget: Annotated[int, typer.Option(help="Configurations to try (one pass: 22).")] = 24,
    search: Annotated[
        str,
        typer.Option(
            help="coordinate: from the defaults, every value of one setting at a time; "
            "random: the defaults, then a fixed-seed sample of the grid."
        ),
    ] = "coordinate",
    adopt: Annotated[
        str,
        typer.Option(
            help="significant: write the best only if it beats the defaults at 95 % over the "
            "validation users, else the defaults; best: write the best found either way."
        ),
    ] = "significant",
    task: Annotated[
        str,
        typer.Option(
            help="next-purchase: what the user buys next (any item); discovery: items the "
            "user never touched. The validation figure searched."
        ),
    ] = "next-purchase",
    primary: PrimaryOption = "purchased",
    seed: SeedOption = 42,
    config: EventsConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Search shopscale's settings on a validation split and write the best config file.

    The grid (similarity, max_similar_per_item, half_life_days, half_life_events, vote,
    weights, max_items_per_user, unprompted_weight) is in docs/evaluation.md. By default a
    coordinate search: the defaults first, then every other value of one setting at a time,
    keeping a change only if validation NDCG@10 (of --task) rises; one pass takes 22
    configurations. The best is written only if it beats the defaults beyond noise (its 95 %
    paired interval over the validation users above 0); otherwise the defaults are, with the
    best found in the file's header (--adopt best writes it anyway). The test split is never
    looked at.
    """
    setup_logging(verbose, quiet=JOB_LOGGERS)
    _check_choice("--model", model, ("shopscale", "shopscale-blend"))
    if budget < 1:
        raise ConfigError("command line", "--budget", f"must be at least 1, got {budget}")
    _check_choice("--search", search, get_args(Search))
    _check_choice("--task", task, TASKS)
    _check_choice("--adopt", adopt, get_args(Adopt))
    split_params = parse_split(split, seed=seed)
    events = _events(config)
    check_output_file(out_path)
    data = load_events(inputs, events)
    found = search_settings(
        data,
        split_params,
        MODELS[model],
        dict(SHOPSCALE_GRID if model == "shopscale" else BLEND_GRID),
        SHOPSCALE_DEFAULTS if model == "shopscale" else BLEND_START,
        budget=budget,
        primary=primary,
        search=cast(Search, search),
        adopt=cast(Adopt, adopt),
        task=cast(Task, task),
        progress=lambda n, value, cfg: out.print(
            f"[dim]{n:>3}[/] ndcg@10 {value:.4f}  {cfg}", highlight=False
        ),
    )
    label = (
        f"--split {split_params.label} --task {task} --budget {budget} --search {search} "
        f"--adopt {adopt}"
    )
    _write_best(out_path, model, primary, found, label, task)


def _check_choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    """A one-line error naming ``flag``, its choices and ``value`` unless it is a choice."""
    if value not in choices:
        raise ConfigError("command line", flag, f"expected {' or '.join(choices)}, got {value!r}")


def _write_best(
    out_path: Path, model: str, primary: str, found: SearchResult, label: str, task: str
) -> None:
    """Write the kept settings as the config file ``recommend`` (or the blend) reads, and say
    whether the best beat the defaults beyond noise (in the file's header and on screen)."""
    section = "recommend" if model == "shopscale" else "blend"
    kept = found.adopted
    values = {"primary": primary, **kept} if model == "shopscale" else kept
    gain = (
        f"defaults {found.default:.4f}, gain {signed(found.best - found.default)} "
        f"(95 % paired interval {signed(found.low)} … {signed(found.high)} over "
        f"{found.users:,} validation users): {found.verdict}"
    )
    comment = (
        f"shopscale tune {label}: best validation NDCG@10 ({task}) {found.best:.4f} of "
        f"{found.tried} configurations\n{gain}"
    )
    if kept != found.config:
        changes = ", ".join(
            f"{k} = {v!r}" for k, v in found.config.items() if found.first.get(k) != v
        )
        comment += f"\nbest found, not written (--adopt best writes it): {changes}"
    with writing(out_path):
        write_config(out_path, section, values, comment)
    out.print(f"best ndcg@10 {found.best:.4f} with {found.config}", highlight=False)
    out.print(f"{gain}; wrote {out_path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``tune`` to ``app``."""
    app.command("evaluate")(evaluate_cmd)
    app.command("tune")(tune_cmd)
