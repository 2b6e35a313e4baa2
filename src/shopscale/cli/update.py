"""``shopscale update``: fold new event files into a results folder's model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shopscale.cli._common import VerboseOption, out, setup_logging
from shopscale.errors import ShopscaleError
from shopscale.recommend.pipeline import FAILED_DIR, REJECTS, RunSummary
from shopscale.recommend.update import update
from shopscale.store.versions import VersionedFolder


def update_command(
    model_dir: Annotated[
        Path, typer.Argument(help="Results folder of `recommend` (or `update`), with model/.")
    ],
    inputs: Annotated[
        list[str], typer.Argument(help="New event files, folders or globs (never folded before).")
    ],
    no_lists: Annotated[
        bool,
        typer.Option(
            "--no-lists",
            help="Update the model and similar items only, not every user's list (a server "
            "ranks at request time).",
        ),
    ] = False,
    keep_versions: Annotated[
        int, typer.Option(min=1, help="Result versions kept in the folder (for rollback) [3].")
    ] = 3,
    threads: Annotated[int | None, typer.Option(help="Worker threads [all cores].")] = None,
    memory_limit: Annotated[
        str | None, typer.Option(help="DuckDB memory before spilling to disk, e.g. 8GB.")
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Fold new events into a model exactly, as if recommend had run on all events.

    Reads the new files like recommend does (same validation, rejects.csv), refuses files
    already folded (by content hash), updates the model state, re-scores every item pair and
    rewrites similar_items.parquet and recommendations.parquet (unless --no-lists).

    Example:  shopscale update recs/ new-events/2026-12-01/*.parquet
    """
    setup_logging(verbose)
    if not model_dir.is_dir():
        raise ShopscaleError(f"{model_dir}: no such results folder; run shopscale recommend first")
    folder = VersionedFolder(model_dir, keep=keep_versions)
    with folder.new_version() as staging:  # locked: the version read is the latest one
        current = folder.current()
        if current is None:
            raise ShopscaleError(f"{model_dir}: no published result; run shopscale recommend")
        summary = update(
            current,
            inputs,
            out=staging,
            lists=not no_lists,
            shown_as=model_dir,
            failed_rejects=model_dir / FAILED_DIR / REJECTS,
            engine_options={"threads": threads, "memory_limit": memory_limit},
        )
    shutil.rmtree(model_dir / FAILED_DIR, ignore_errors=True)  # an earlier failure's rejects
    _print_summary(summary)


def _print_summary(s: RunSummary) -> None:
    """What the fold did: rows read, the model's size after it, seconds per stage."""
    table = Table(title="shopscale update", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in [
        ("rows read", s.rows_read),
        ("accepted", s.accepted),
        ("rejected", s.rejected),
        ("users", s.users),
        ("items", s.items),
        ("interactions kept", s.interactions),
        ("recommendations", s.recommendations),
        ("similar-item rows", s.similar_items),
    ]:
        table.add_row(label, f"{value:,}")
    for stage, secs in s.seconds.items():
        table.add_row(f"time: {stage}", f"{secs:.2f} s")
    out.print(table)
    for name, path in s.outputs.items():
        out.print(f"  [dim]{name:>16}[/] {path}")


def register(app: typer.Typer) -> None:
    """Add ``update`` to the shopscale command."""
    app.command(name="update")(update_command)
