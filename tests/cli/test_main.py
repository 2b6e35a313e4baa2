"""The ``shopscale`` entry point: how a Ctrl-C ends a command, whoever catches it first."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.store.results import shopscale_env

# A command that runs a DuckDB query for ever; DuckDB answers Ctrl-C with RuntimeError.
SPIN = """
import duckdb
from shopscale.cli import main

@main.app.command("spin")
def spin() -> None:
    con = duckdb.connect()
    print("ready", flush=True)
    con.execute("SELECT count(*) FROM range(10000000000000) t(x) WHERE x % 7 = 3").fetchall()

main.main()
"""


def test_ctrl_c_inside_a_duckdb_query_exits_130(tmp_path: Path) -> None:
    """A Ctrl-C that DuckDB turns into RuntimeError('Query interrupted') still ends the
    command with exit 130 and "interrupted", not as an unexpected error (or exit 0)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SPIN, "spin"],
        env=shopscale_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        err = _interrupt_until_it_ends(proc)
    finally:
        proc.kill()  # a command that ignored the Ctrl-C must not outlive the test
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted"


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


def _interrupt_until_it_ends(proc: subprocess.Popen[str], tries: int = 60) -> str:
    """Press Ctrl-C every few seconds until the command ends, as a user would; return its stderr.

    One press can land between ``print`` and the query, where Python only notes the signal
    and DuckDB, once running, never looks at it; and on a loaded machine DuckDB can take tens
    of seconds to notice a press inside the query."""
    for _ in range(tries):
        proc.send_signal(signal.SIGINT)
        try:
            return proc.communicate(timeout=3.0)[1]
        except subprocess.TimeoutExpired:
            continue
    raise AssertionError(f"{tries} Ctrl-C presses did not end the command")
