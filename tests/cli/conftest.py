"""CLI fixtures: run ``shopscale`` as a user would, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.store.results import shopscale_env

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def shopscale(tmp_path: Path) -> Runner:
    """Run ``python -m shopscale ARGS`` in tmp_path; return the finished process."""

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "shopscale", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=shopscale_env(tmp_path),
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run


@pytest.fixture
def small_log(tmp_path: Path) -> Path:
    """A deterministic 3,000-event log over 150 users and 60 items with co-purchase structure."""
    rng = np.random.default_rng(7)
    lines = ["user_id,action,item_id,timestamp"]
    for u in range(150):
        group = rng.integers(0, 6)
        for _ in range(20):
            item = (
                int(group * 10 + rng.integers(0, 10))
                if rng.random() < 0.8
                else int(rng.integers(0, 60))
            )
            action = rng.choice(["viewed", "carted", "purchased"], p=[0.7, 0.2, 0.1])
            lines.append(f"{u},{action},{item},{1_700_000_000 + int(rng.integers(0, 10**6))}")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
