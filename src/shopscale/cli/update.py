"""``shopscale update``: fold new event files into a results folder's model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shopscale.cli._common import VerboseOption, out, setup_logging
from shopscale.errors import InputError
from shopscale.recommend.pipeline import RunSummary
from shopscale.recommend.update import update

FAILED = "last-failed"
"""Where a failed update leaves the rejects its message names (outside the result)."""
OUTPUTS = (
    "recommendations.parquet",
    "recommendations.csv",
    "recommendations.jsonl",
    "similar_items.parquet",
    "shopscale.sqlite",
    "rejects.csv",
    "summary.json",
    "model",
)
"""Every entry a results folder may hold: a new result replaces all of them."""


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
    staging = model_dir / f".update-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        summary = update(
            model_dir,
            inputs,
            out=staging,
            lists=not no_lists,
            engine_options={"threads": threads, "memory_limit": memory_limit},
        )
        _publish(staging, model_dir, summary)
    except InputError as exc:
        raise _keep_rejects(exc, staging, model_dir) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _print_summary(summary)


def _keep_rejects(exc: InputError, staging: Path, root: Path) -> InputError:
    """Over the reject budget, the rejects the message names move to ROOT/last-failed/
    (the published result stays as it was); the message names where they are now."""
    staged = staging / "rejects.csv"
    if not staged.exists() or str(staged) not in str(exc):
        return exc
    kept = root / FAILED / "rejects.csv"
    kept.parent.mkdir(exist_ok=True)
    staged.replace(kept)
    return InputError(exc.path, exc.reason.replace(str(staged), str(kept)), exc.line)


def _publish(staging: Path, root: Path, summary: RunSummary) -> None:
    """Replace the results in ``root`` by the staged ones (one rename per entry).

    Interim: versioned publication (``store.versions``) will switch the whole folder at
    once; until then a crash between two renames can leave a mix."""
    for name in OUTPUTS:
        old = root / name
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    for entry in staging.iterdir():
        entry.replace(root / entry.name)
    summary.outputs = {k: str(root / Path(v).name) for k, v in summary.outputs.items()}


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
