"""``shopscale generate``: write a synthetic shop action log to try everything on."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shopscale.cli._common import VerboseOption, console, out, setup_logging
from shopscale.config import make_params
from shopscale.errors import ConfigError
from shopscale.generate import Format, GenerateParams, infer_format, write_events
from shopscale.store.paths import check_output_file, writing

HELP = (
    "Write a synthetic log (user_id,action,item_id,timestamp) with Zipf item popularity and a "
    "view -> cart -> purchase funnel, in one of three shapes: bundles (dense sessions around "
    "complements, the default), longtail (about 21 events per user, weak taste clusters) or "
    "catalog (a large catalogue: 10 events per user and per item, up to 1M items). Written in "
    "blocks, so memory does not grow with --events. Same seed, same bytes."
)


def generate(
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="File to write (.csv, .jsonl or .parquet).")
    ],
    events: Annotated[int, typer.Option(help="Number of events (rows), exactly.")] = 1_000_000,
    users: Annotated[
        int | None,
        typer.Option(
            help="Number of users (default: events/20; longtail events/21, catalog events/10).",
            show_default=False,
        ),
    ] = None,
    items: Annotated[
        int | None,
        typer.Option(
            help="Number of items (default: events/100, at least 50; longtail events/83, "
            "catalog events/10 up to 1M).",
            show_default=False,
        ),
    ] = None,
    shape: Annotated[
        str, typer.Option(help="bundles, longtail or catalog (see the command's help).")
    ] = "bundles",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    days: Annotated[int, typer.Option(help="Days the log spans, from 2024-01-01 UTC.")] = 30,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="csv, jsonl or parquet (default: from the --out suffix, else csv)."
        ),
    ] = None,
    gzip: Annotated[bool, typer.Option("--gzip", help="Gzip csv/jsonl; adds .gz.")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Write a synthetic shop action log."""
    setup_logging(verbose)
    values = {
        "events": events,
        "users": users,
        "items": items,
        "seed": seed,
        "days": days,
        "shape": shape,
    }
    params = make_params(
        GenerateParams,
        {k: v for k, v in values.items() if v is not None},
        source="<flags>",
        section="generate",
    )
    chosen = _check_format(fmt, out_path, gzip)
    if gzip and not out_path.name.endswith(".gz"):
        out_path = out_path.with_name(out_path.name + ".gz")
    check_output_file(out_path)
    start = time.perf_counter()
    with writing(out_path), _progress() as progress:
        task = progress.add_task("generating", total=params.events)
        rows = write_events(
            params,
            out_path,
            fmt=chosen,
            gzip=gzip,
            on_block=lambda n: progress.advance(task, n),
        )
    elapsed = time.perf_counter() - start
    out.print(f"wrote {rows:,} events to {out_path} in {elapsed:.1f} s", highlight=False)


def _check_format(fmt: str | None, out_path: Path, gzip: bool) -> Format:
    """The format to write: the flag when given (validated), else the output's suffix."""
    chosen = infer_format(out_path) if fmt is None else fmt
    if chosen not in ("csv", "jsonl", "parquet"):
        raise ConfigError("<flags>", "--format", f"expected csv, jsonl or parquet, got {fmt!r}")
    if chosen == "parquet" and gzip:
        raise ConfigError("<flags>", "--gzip", "parquet is compressed already; drop --gzip")
    return chosen  # type: ignore[return-value]


def _progress() -> Progress:
    """A progress bar over events written, on stderr; it disappears when done."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def register(app: typer.Typer) -> None:
    """Add the ``generate`` command to ``app``."""
    app.command("generate", help=HELP)(generate)
