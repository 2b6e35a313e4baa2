"""``shopscale versions`` and ``shopscale rollback``: the published results and the kept ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shopscale.cli._common import out
from shopscale.errors import ShopscaleError
from shopscale.store.versions import VersionedFolder

ResultsArgument = Annotated[Path, typer.Argument(help="Output folder of `shopscale recommend`.")]


def _folder(results: Path) -> VersionedFolder:
    """The versioned folder at ``results``, or a one-line error if it is not one."""
    folder = VersionedFolder(results)
    if not results.is_dir() or not folder.versions():
        raise ShopscaleError(f"{results}: not a results folder (no published versions in it)")
    return folder


def versions(results: ResultsArgument) -> None:
    """List the kept versions of a results folder, oldest first; * marks the published one.

    Example:  shopscale versions recs/
    """
    table = Table(title=f"versions in {results}", title_justify="left")
    for column in ("", "id", "created (UTC)", "files"):
        table.add_column(column)
    for info in _folder(results).versions():
        names = ", ".join(sorted(p.name for p in info.path.iterdir()))
        mark = "*" if info.is_current else ""
        table.add_row(mark, info.id, info.created.strftime("%Y-%m-%d %H:%M:%S"), names)
    out.print(table)


def rollback(
    results: ResultsArgument,
    to: Annotated[
        str | None, typer.Option("--to", help="Version id to publish [the one before]")
    ] = None,
) -> None:
    """Publish an earlier version again (one atomic switch, like a run).

    Example:  shopscale rollback recs/   or   shopscale rollback recs/ --to 000003-20261201T164501Z
    """
    path = _folder(results).rollback(to)
    out.print(f"published {path.name} in {results}")


def register(app: typer.Typer) -> None:
    """Add ``versions`` and ``rollback`` to the shopscale command."""
    app.command(name="versions")(versions)
    app.command(name="rollback")(rollback)
