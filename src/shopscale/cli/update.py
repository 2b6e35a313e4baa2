"""``shopscale update``: fold new event files into a results folder's model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from shopscale.cli._common import VerboseOption, console, setup_logging
from shopscale.cli._progress import stage_progress
from shopscale.cli.recommend import print_summary
from shopscale.errors import ShopscaleError
from shopscale.recommend.pipeline import FAILED_DIR, REJECTS
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
        with stage_progress(console) as progress:
            summary = update(
                current,
                inputs,
                out=staging,
                lists=not no_lists,
                shown_as=model_dir,
                failed_rejects=model_dir / FAILED_DIR / REJECTS,
                progress=progress,
                engine_options={"threads": threads, "memory_limit": memory_limit},
            )
    shutil.rmtree(model_dir / FAILED_DIR, ignore_errors=True)  # an earlier failure's rejects
    print_summary(summary, "shopscale update")


def register(app: typer.Typer) -> None:
    """Add ``update`` to the shopscale command."""
    app.command(name="update")(update_command)
