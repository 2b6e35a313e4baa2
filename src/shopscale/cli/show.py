"""``shopscale show`` and ``shopscale similar``: read results back, one user or item at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.table import Table

from shopscale.cli._common import out
from shopscale.cli._explain import explain_rows, explain_table
from shopscale.errors import InputError
from shopscale.store.versions import VersionedFolder

_READERS = {".parquet": "read_parquet", ".csv": "read_csv", ".jsonl": "read_json"}


def _find(results: Path, stem: str) -> Path:
    """The results file ``stem.*`` of the published version of a results folder (read once,
    so every file comes from the same run), or ``results`` itself if it is a results file."""
    if results.is_file():
        if results.suffix not in _READERS:
            raise InputError(results, "not a results file (.parquet, .csv or .jsonl)")
        return results
    if not results.is_dir():
        raise InputError(results, "no such file or folder")
    version = VersionedFolder(results).current() or results  # or an unversioned older folder
    named = _named_in_summary(version, stem)
    candidates = [named] if named else [version / f"{stem}{suffix}" for suffix in _READERS]
    for candidate in candidates:
        if candidate.is_file() or (candidate.suffix == ".parquet" and candidate.is_dir()):
            return candidate  # a folder of Parquet parts: written by the Spark engine
    raise InputError(
        results,
        f"not a results folder: no {stem}.parquet/.csv/.jsonl here; run `shopscale recommend`",
    )


def _named_in_summary(version: Path, stem: str) -> Path | None:
    """The file summary.json says holds ``stem`` (its format), inside ``version``."""
    path = version / "summary.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if stem not in doc["outputs"] and "summary" in doc["outputs"]:  # update --no-lists
            raise InputError(path, f"this result has no {stem} (written by update --no-lists)")
        name = doc["outputs"][stem]
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(path, f"not a shopscale summary ({type(err).__name__}: {err})") from None
    if not isinstance(name, str):
        raise InputError(path, f"not a shopscale summary (outputs.{stem} is not a path)")
    return version / Path(name).name


def _query(
    path: Path, where: str, args: list[Any], order: str, *, first_users: int | None = None
) -> list[tuple[Any, ...]]:
    """Rows of a results file matching ``where``, ids compared as text (with
    ``first_users``: only those of the first that many users in id order); a file DuckDB
    cannot read (corrupt, not a results table) is an InputError naming it."""
    reader = _READERS[path.suffix]
    opts = ", all_varchar=true" if reader == "read_csv" else ""
    source = f"{reader}(?{opts})"
    target = str(path / "*.parquet") if path.is_dir() else str(path)  # Spark's part files
    params = [target, *args]
    if first_users is not None:  # the users are picked in DuckDB: no million rows to Python
        where += (
            f" AND user_id IN (SELECT DISTINCT user_id FROM {source} "
            f"ORDER BY user_id LIMIT {int(first_users)})"
        )
        params.append(target)
    sql = f"SELECT * FROM {source} WHERE {where} ORDER BY {order}"
    try:
        return duckdb.connect().execute(sql, params).fetchall()
    except duckdb.Error as err:
        text = " ".join(str(err).replace(f"'{path}'", "it").split()) or type(err).__name__
        raise InputError(path, f"cannot read it as a results file ({text})") from None


def _table(title: str, columns: list[str], rows: list[tuple[Any, ...]]) -> Table:
    """A rich table of result rows."""
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c, justify="right" if c in ("rank", "score") else "left")
    for row in rows:
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    return table


def show(
    results: Annotated[Path, typer.Argument(help="Output folder of `shopscale recommend`.")],
    user: Annotated[str, typer.Option("--user", "-u", help="User id to show.")],
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Show why each item is listed: the terms of its score (own engagement, the "
            "unprompted prior, the history items that voted) from the folder's model.",
        ),
    ] = False,
) -> None:
    """Print one user's ranked list.  Example:  shopscale show recs/ --user 42 --explain"""
    path = _find(results, "recommendations")
    rows = _query(path, "CAST(user_id AS VARCHAR) = ?", [user], "CAST(rank AS INTEGER)")
    if not rows:
        raise InputError(path, f"user {user!r} has no recommendations (unknown user?)")
    if explain:
        if results.is_file():
            raise InputError(results, "--explain needs the results folder (it reads model/)")
        out.print(explain_table(user, explain_rows(path.parent, user, rows)))
        return
    out.print(
        _table(
            f"recommendations for user {user}",
            ["user_id", "rank", "item_id", "score", "source"],
            rows,
        )
    )


def similar(
    results: Annotated[Path, typer.Argument(help="Output folder of `shopscale recommend`.")],
    item: Annotated[str, typer.Option("--item", "-i", help="Item id to show.")],
    action: Annotated[str | None, typer.Option(help="Only this indicator action.")] = None,
    top: Annotated[int, typer.Option("--top", "-n", help="Rows shown per action.")] = 10,
) -> None:
    """Print what goes with an item, per indicator action.

    Example:  shopscale similar recs/ --item 1234
    """
    path = _find(results, "similar_items")
    where, args = "CAST(item_id AS VARCHAR) = ? AND CAST(rank AS INTEGER) <= ?", [item, top]
    if action:
        where, args = where + " AND action = ?", [item, top, action]
    rows = _query(path, where, args, "action, rank")
    if not rows:
        raise InputError(
            path, f"item {item!r} has no similar items" + (f" for {action!r}" if action else "")
        )
    out.print(
        _table(
            f"items that go with {item}",
            ["item_id", "action", "rank", "similar_item_id", "score"],
            rows,
        )
    )


def print_preview(path: Path, n_users: int) -> None:
    """Print the lists of the first few users of a recommendations file."""
    rows = _query(
        path,
        "CAST(rank AS INTEGER) <= 5",
        [],
        "user_id, CAST(rank AS INTEGER)",
        first_users=n_users,
    )
    users: dict[str, list[str]] = {}
    for user_id, _rank, item_id, score, source in rows:
        mark = "*" if source == "backfill" else ""
        users.setdefault(str(user_id), []).append(f"{item_id}{mark} ({float(score):.1f})")
    table = Table(title="a few users' top 5 (* = backfill)", title_justify="left")
    table.add_column("user_id")
    table.add_column("top 5 items (score)")
    for user_id, items in users.items():
        table.add_row(user_id, ", ".join(items))
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add ``show`` and ``similar`` to the shopscale command."""
    app.command(name="show")(show)
    app.command(name="similar")(similar)
