"""Spill folders of killed runs are swept; those of live processes never are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from shopscale.engine.local.spill import PREFIX, new_spill_dir, sweep_stale


def _dead_pid() -> int:
    """The id of a process that has exited (a real child, waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sweep_removes_only_folders_of_dead_processes(tmp_path: Path) -> None:
    """A dead run's folder (with spill files) goes; this process's folder and foreign folders
    stay."""
    dead = tmp_path / f"{PREFIX}{_dead_pid()}-abc"
    (dead / "sub").mkdir(parents=True)
    (dead / "sub" / "spill.tmp").write_bytes(b"x" * 100)
    mine = new_spill_dir(tmp_path)
    assert mine.name.startswith(f"{PREFIX}{os.getpid()}-")
    unnamed = tmp_path / f"{PREFIX}old_format"
    unnamed.mkdir()
    other = tmp_path / "not-ours-123-"
    other.mkdir()
    assert sweep_stale(tmp_path) == [dead]
    assert not dead.exists()
    assert mine.is_dir() and unnamed.is_dir() and other.is_dir()
