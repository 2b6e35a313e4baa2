"""The ``shopscale`` entry point: how a Ctrl-C ends a command, whoever catches it first."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.store.results import shopscale_env

# A command that runs a DuckDB query for ever on the engine's own connection; DuckDB answers
# Ctrl-C with RuntimeError.
SPIN = """
from shopscale.cli import main
from shopscale.engine.local.engine import LocalEngine

@main.app.command("spin")
def spin() -> None:
    con = LocalEngine().con
    print("ready", flush=True)
    con.execute("SELECT count(*) FROM range(10000000000000) t(x) WHERE x % 7 = 3").fetchall()

main.main()
"""


def test_ctrl_c_inside_a_duckdb_query_exits_130(tmp_path: Path) -> None:
    """A Ctrl-C that DuckDB turns into RuntimeError('Query interrupted') still ends the
    command with exit 130 and "interrupted", not as an unexpected error (or exit 0); so does
    one that DuckDB never notices (it landed just before the query) or deadlocks on (the
    watchdog ends the command INTERRUPT_GRACE_S later)."""
    assert _ctrl_c_once_ready(SPIN, "spin", tmp_path) == (130, "interrupted")


# A Ctrl-C that lands while the sub-commands (and DuckDB, Arrow, NumPy under them) load.
CTRL_C_WHILE_LOADING = """
import sys

class CtrlCOnLoad:
    def find_spec(self, name, path=None, target=None):
        if name == "shopscale.cli.recommend":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, CtrlCOnLoad())
from shopscale.cli import main

main.main()
"""


def test_ctrl_c_while_the_command_loads_exits_130(tmp_path: Path) -> None:
    """A Ctrl-C while the heavy libraries load (the first second of every command) ends it
    with exit 130 and "interrupted", not a traceback."""
    proc = subprocess.run(
        [sys.executable, "-c", CTRL_C_WHILE_LOADING, "recommend", "--help"],
        env=shopscale_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == "interrupted"


# A command whose code swallows the Ctrl-C and goes on, as native code stuck in a lock does.
DEAF = """
import signal, time
from shopscale.cli import main

@main.app.command("deaf")
def deaf() -> None:
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    print("ready", flush=True)
    while True:
        time.sleep(0.1)

main.main()
"""


def test_a_command_that_does_not_stop_is_ended_after_the_grace(tmp_path: Path) -> None:
    """A Ctrl-C the command never acts on still ends it (exit 130, "interrupted"): the
    watchdog does, once INTERRUPT_GRACE_S have passed."""
    assert _ctrl_c_once_ready(DEAF, "deaf", tmp_path) == (130, "interrupted")


def _ctrl_c_once_ready(script: str, command: str, tmp_path: Path) -> tuple[int, str]:
    """Run ``script``'s ``command``, press Ctrl-C once it prints "ready" (wherever that lands:
    in the query, or just before it); return its exit code and stripped stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, command],
        env=shopscale_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()  # a command that ignored the Ctrl-C must not outlive the test
    return proc.returncode, err.strip()


def test_command_table_names_what_each_module_registers() -> None:
    """``main.COMMANDS`` (which module a sub-command's name loads) names exactly the commands
    the modules register, so running one command imports the module that defines it."""
    import importlib

    import typer

    from shopscale.cli.main import COMMANDS

    found: dict[str, str] = {}
    for module in set(COMMANDS.values()):
        app = typer.Typer()
        importlib.import_module(f"shopscale.cli.{module}").register(app)
        names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
        found |= {str(name): module for name in names}
    assert found == COMMANDS
