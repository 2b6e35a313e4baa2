"""Shared fixtures: the real data folder, and the engines every conformance test runs on."""

from __future__ import annotations

from pathlib import Path

import pytest

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
