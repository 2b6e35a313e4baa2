"""Fixtures of the store tests: SQLite URLs and a store URL on each backend (PostgreSQL from
the session-wide ``postgres_url`` fixture in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


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
