"""The plan folder: checked before work, replaced whole, leftovers of killed runs repaired."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shopscale.routing.publish import discard, prepare_out, publish


def _dead_pid() -> int:
    """The id of a process that has already exited."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def test_publish_replaces_the_whole_folder(tmp_path: Path) -> None:
    """After publish the folder holds exactly the new files and no staging is left."""
    out = tmp_path / "plan"
    out.mkdir()
    (out / "plan.csv").write_text("old")
    (out / "map.png").write_text("old")
    staging = prepare_out(out)
    (staging.folder / "plan.csv").write_text("new")
    publish(staging)
    discard(staging)
    assert {p.name: p.read_text() for p in out.iterdir()} == {"plan.csv": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan"]


def test_leftovers_of_killed_runs_are_repaired(tmp_path: Path) -> None:
    """A staging folder of a dead run is removed, and a plan a dead run had moved aside
    (killed between its two renames) is put back before the next run starts."""
    pid = _dead_pid()
    out = tmp_path / "plan"
    aside = tmp_path / f".plan.old-{pid}"
    aside.mkdir()
    (aside / "plan.csv").write_text("previous")
    (tmp_path / f".plan.staging-{pid}").mkdir()
    staging = prepare_out(out)
    assert (out / "plan.csv").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == [staging.folder.name, "plan"]
    discard(staging)
