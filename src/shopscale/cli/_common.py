"""What every sub-command shares: the console, logging set-up and config loading."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from shopscale.config import read_toml
from shopscale.log import LOGGER_NAME

console = Console(stderr=True, soft_wrap=True)
"""stderr: errors, logs and progress. Soft wrap: a message is one line however long (a
terminal may fold it; a pipe or a log collector sees one line)."""
out = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML file with [events], [recommend], [output] sections; flags override it.",
        show_default=False,
    ),
]
EventsConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML file whose [events] section says how to read the log (columns, actions).",
        show_default=False,
    ),
]
RoutesConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML file with a [routes] section; flags override it.",
        show_default=False,
    ),
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")]


def log_path() -> Path:
    """Where the CLI writes the full log of the last run (quoted in crash messages)."""
    base = Path(os.environ.get("SHOPSCALE_LOG_DIR", Path(tempfile.gettempdir()) / "shopscale"))
    base.mkdir(parents=True, exist_ok=True)
    return base / "last-run.log"


def setup_logging(verbose: bool = False, *, quiet: tuple[str, ...] = ()) -> None:
    """Log to the terminal (rich) and to ``log_path()``; only the CLI configures handlers.

    ``quiet``: loggers (``shopscale.<name>`` prefixes) whose info lines stay off the screen
    unless ``verbose``, e.g. the batch job's stage timings when ``tune`` runs it a dozen
    times; the log file keeps everything.
    """
    root = logging.getLogger(LOGGER_NAME)
    root.handlers.clear()
    root.setLevel(logging.DEBUG)
    screen = RichHandler(console=console, show_path=False, rich_tracebacks=False)
    screen.setLevel(logging.DEBUG if verbose else logging.INFO)
    if quiet and not verbose:
        prefixes = tuple(f"{LOGGER_NAME}.{name}" for name in quiet)
        screen.addFilter(lambda r: r.levelno >= logging.WARNING or not r.name.startswith(prefixes))
    root.addHandler(screen)
    to_file = logging.FileHandler(log_path(), mode="w", encoding="utf-8")
    to_file.setLevel(logging.DEBUG)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(to_file)
    root.propagate = False


def load_config(path: Path | None) -> tuple[dict[str, Any], str]:
    """Read the TOML config (or nothing) and return it with its name for error messages."""
    return read_toml(path), str(path) if path else "<defaults>"
