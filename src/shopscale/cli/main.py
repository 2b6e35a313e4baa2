"""Assemble the ``shopscale`` command and turn errors into one line and an exit code."""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from types import FrameType

import typer
from rich.markup import escape

from shopscale.cli._common import console, log_path
from shopscale.cli._memory import no_huge_pages
from shopscale.cli._startup import without_pandas
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

_REGISTERED: list[bool] = []

COMMANDS = {
    "generate": "generate",
    "recommend": "recommend",
    "update": "update",
    "show": "show",
    "similar": "show",
    "versions": "versions",
    "rollback": "versions",
    "doctor": "doctor",
    "routes": "routes",
    "import": "import_",
    "evaluate": "evaluate",
    "tune": "evaluate",
    "serve": "serve",
}
"""Sub-command name -> the ``shopscale.cli`` module that registers it."""


@app.callback()
def _group() -> None:
    # a callback keeps ``shopscale NAME ...`` a group when one sub-command is registered
    pass


def _command_name() -> str | None:
    """The sub-command word of the command line (first argument), if any."""
    return sys.argv[1] if len(sys.argv) > 1 else None


def _register_commands() -> None:
    """Import the sub-commands and add them to ``app`` (once): only the one the command line
    names (each imports its own libraries: evaluation's cost ~3 s at every start), or every
    one for the top-level help and unknown names. Done inside ``main`` rather than at import,
    so a Ctrl-C while the heavy libraries load is an interruption, not a traceback."""
    if _REGISTERED:
        return
    wanted = COMMANDS.get(_command_name() or "")
    modules = [wanted] if wanted else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(f"shopscale.cli.{name}").register(app)
    _REGISTERED.append(True)
    # the libraries just imported live as long as the process: frozen, their objects are no
    # longer traversed by every full collection of the cyclic collector (~0.5 s of an update)
    gc.freeze()


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


_SIGINTS: list[int] = []
"""Ctrl-Cs received. DuckDB turns one that arrives mid-query into ``RuntimeError('Query
interrupted')`` (and an engine may wrap that again), so the exception alone cannot tell."""


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    """Remember the Ctrl-C, then raise KeyboardInterrupt as Python does by default."""
    _SIGINTS.append(signum)
    signal.default_int_handler(signum, frame)


INTERRUPT_GRACE_S = 10.0
"""After a Ctrl-C, how long a command has to stop by itself before it is ended."""


def _watch_sigint() -> None:
    """Install ``_on_sigint`` unless SIGINT is ignored (a background job of a shell), and the
    watchdog that ends a command which a Ctrl-C did not stop."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
        _start_interrupt_watchdog()


def _start_interrupt_watchdog() -> None:
    """End the process INTERRUPT_GRACE_S after a Ctrl-C if it is still running.

    Python runs signal handlers only when the main thread runs Python code; native code that
    never returns (DuckDB 2.0 can deadlock when a Ctrl-C interrupts a query) would keep the
    terminal for ever. The C-level handler writes each signal to the wakeup fd whatever the
    main thread does, so a thread waiting on it sees the Ctrl-C. Ending the process there is
    safe: results are published by one rename, so an unfinished run leaves the old ones whole.
    """
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread: nobody to watch for
        return

    def watch() -> None:
        assert writer.fileno() >= 0  # the closure keeps the writing end open as long as this
        while reader.recv(1) != bytes([signal.SIGINT]):
            continue
        time.sleep(INTERRUPT_GRACE_S)
        os.write(2, b"interrupted\n")
        os._exit(130)

    threading.Thread(target=watch, name="ctrl-c-watchdog", daemon=True).start()


def _interrupted() -> None:
    """Ctrl-C: say so and exit 130 (what shells report for SIGINT)."""
    console.print("interrupted")
    sys.exit(130)


def main() -> None:
    """Entry point: exit 2 on a user error (one line), 3 on an unexpected one (with log path),
    130 on Ctrl-C."""
    _watch_sigint()
    no_huge_pages()  # before the libraries allocate (see ``_memory``)
    without_pandas(_command_name())  # before pyarrow (``_startup``)
    try:
        # Without standalone mode, typer turns an exit (typer.Exit, and Ctrl-C as exit 130)
        # into the return value instead of exiting: that value is the exit code.
        _register_commands()
        code = app(standalone_mode=False)
    except ShopscaleError as exc:
        if _SIGINTS:  # the error is how a library reported the Ctrl-C
            _interrupted()
        # soft_wrap: one line however long (paths), so logs and scripts get it whole
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:
        sys.exit(getattr(exc, "exit_code", None) or getattr(exc, "code", 0) or 0)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        _interrupted()
    except Exception as exc:  # the crash path: one line, full trace in the log
        if _SIGINTS:  # the error is how a library reported the Ctrl-C
            logging.getLogger("shopscale").debug("interrupted", exc_info=True)
            _interrupted()
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
    if code == 130:
        _interrupted()
    if isinstance(code, int) and code:
        sys.exit(code)
