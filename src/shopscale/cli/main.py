"""Assemble the ``shopscale`` command and turn errors into one line and an exit code."""

from __future__ import annotations

import logging
import sys

import typer
from rich.markup import escape

from shopscale.cli import (
    doctor,
    evaluate,
    generate,
    import_,
    recommend,
    routes,
    serve,
    show,
    update,
)
from shopscale.cli._common import console, log_path
from shopscale.errors import ShopscaleError

app = typer.Typer(
    name="shopscale",
    help=(
        "Recommendations and delivery routes for an online shop, on one machine (DuckDB) "
        "or on Apache Spark.\n\n"
        "Start here:  shopscale generate --events 100000 --out sample/events.csv  then  "
        "shopscale recommend sample/events.csv --out recs/  then  shopscale show recs/ --user 42"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # help texts end in "[default]": markdown keeps it, rich markup would read "[llr]" as a style
    rich_markup_mode="markdown",
)

for _module in (generate, recommend, show, doctor, routes, import_, evaluate, update, serve):
    _module.register(app)


def _usage_error(exc: Exception) -> bool:
    """A command-line usage error: a click exception, which prints itself with ``show()``.

    Recent typer vendors click (``typer._click``, under ``typer.exceptions.TyperException``)
    and no longer installs it; older typer raises ``click.ClickException``."""
    if isinstance(exc, typer.exceptions.TyperException) and hasattr(exc, "show"):
        return True
    try:
        import click
    except ImportError:
        return False
    return isinstance(exc, click.ClickException)


def main() -> None:
    """Entry point: exit 2 on a user error (one line), 3 on an unexpected one (with log path)."""
    try:
        app(standalone_mode=False)
    except ShopscaleError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        code = getattr(exc, "exit_code", None) or getattr(exc, "code", 0) or 0
        sys.exit(code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the crash path: one line, full trace in the log
        if _usage_error(exc):  # unknown option, missing argument: click's own message
            exc.show()  # type: ignore[attr-defined]
            sys.exit(int(getattr(exc, "exit_code", 2)))
        # DEBUG: the full trace goes to the log file, not the screen (unless --verbose)
        logging.getLogger("shopscale").debug("unexpected error", exc_info=True)
        console.print(
            f"[bold red]unexpected error:[/] {type(exc).__name__}: {escape(str(exc))}\n"
            f"full details in {log_path()}; please attach it to a bug report with "
            "`shopscale doctor`'s output",
            highlight=False,
        )
        sys.exit(3)
