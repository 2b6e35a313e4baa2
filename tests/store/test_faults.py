"""Fault injection: a real ``shopscale recommend`` killed with SIGKILL at every named point
(``store.faults``), two runs at once, a full disk. After each, every documented path of the
output folder reads exactly the earlier run's result or exactly the new one, never a mix, and
the next run succeeds and leaves no leftovers."""

from __future__ import annotations

import fcntl
import os
import re
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from shopscale.store.versions import VersionedFolder
from tests.store.results import (
    leftovers,
    read_results,
    recommend_cmd,
    run_recommend,
    shopscale_env,
    write_log,
)

pytestmark = pytest.mark.slow

# point -> which run a reader must see after the kill ("A": the earlier one, "B": the new one)
POINTS = {
    "after:read": "A",
    "write:rejects.csv": "A",
    "after:encode": "A",
    "after:map": "A",
    "write:similar_items.parquet": "A",
    "load:similar_items": "A",
    "after:reduce": "A",
    "write:recommendations.parquet": "A",
    "load:recommendations": "A",
    "after:rank": "A",
    "write:summary.json": "A",
    "publish:before-switch": "A",
    "publish:after-switch": "B",
}
WITH_SQLITE = ("--db", "sqlite")
"""The kill points include the SQL export's loads, so those runs ask for it."""


class Runs:
    """Two runs on different data (A published first, then B) and what each leaves to read."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.a = write_log(root / "a.csv", 1, bad_line="ua,viewed")
        self.b = write_log(root / "b.csv", 2, bad_line="ub,,x,1700000000")
        self.env = shopscale_env(root)
        self.template = root / "template"
        self.expected: dict[tuple[str, str], dict[str, object]] = {}

    def folder_with_a(self, dest: Path, *args: str) -> Path:
        """A copy of an output folder holding run A (made once per argument list)."""
        template = self.template / "-".join(args or ("default",))
        if not template.exists():
            self.check(run_recommend(self.a, template / "out", *args, env=self.env))
        shutil.copytree(template, dest / "copy", symlinks=True)
        return dest / "copy" / "out"

    def state(self, run: str, *args: str) -> dict[str, object]:
        """What a reader sees after run A, or after run B over run A, with these arguments."""
        key = (run, "-".join(args))
        if key not in self.expected:
            dest = self.root / f"expected-{run}-{len(self.expected)}"
            out = self.folder_with_a(dest, *args)
            if run == "B":
                self.check(run_recommend(self.b, out, *args, env=self.env))
            self.expected[key] = read_results(out)
        return self.expected[key]

    @staticmethod
    def check(proc: subprocess.CompletedProcess[str]) -> None:
        """Fail with the run's output unless it exited 0."""
        assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Runs A and B on two different 2,000-event logs, each with one rejected line."""
    return Runs(tmp_path_factory.mktemp("faults"))


def assert_whole(out: Path, runs: Runs, want: str, *args: str) -> None:
    """Every documented path reads run ``want``'s result, all from that one run."""
    state = read_results(out)
    expected = runs.state(want, *args)
    other = runs.state("A" if want == "B" else "B", *args)
    assert state != other, f"{out} holds the other run's result"
    assert state == expected, f"{out} holds a mix: {sorted(state)}"


def rerun_is_clean(out: Path, runs: Runs, *args: str) -> None:
    """Run B again: it succeeds, is read whole, leaves no leftovers and keeps <= keep versions."""
    runs.check(run_recommend(runs.b, out, *args, env=runs.env))
    assert_whole(out, runs, "B", *args)
    assert leftovers(out) == []
    keep = int(args[args.index("--keep-versions") + 1]) if "--keep-versions" in args else 3
    assert len(VersionedFolder(out).versions()) <= keep


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_at_point_leaves_old_or_new_result(runs: Runs, tmp_path: Path, point: str) -> None:
    """Killed at ``point``, run B leaves exactly A's result (B's once switched); reruns clean."""
    out = runs.folder_with_a(tmp_path, *WITH_SQLITE)
    env = {**runs.env, "SHOPSCALE_FAULT": point}
    proc = run_recommend(runs.b, out, *WITH_SQLITE, env=env)
    assert proc.returncode == -signal.SIGKILL, f"never reached {point}: {proc.stderr}"
    assert_whole(out, runs, POINTS[point], *WITH_SQLITE)
    rerun_is_clean(out, runs, *WITH_SQLITE)


@pytest.mark.parametrize(
    ("point", "want"), [("write:recommendations.csv", "A"), ("publish:after-switch", "B")]
)
def test_kill_while_the_file_set_changes(runs: Runs, tmp_path: Path, point: str, want: str) -> None:
    """Parquet run A, then a CSV run B without a database killed at ``point``: the folder shows
    A's files or B's, never B's CSV beside A's Parquet or SQLite."""
    args = ("--format", "csv", "--db", "none")
    out = runs.folder_with_a(tmp_path)
    proc = run_recommend(runs.b, out, *args, env={**runs.env, "SHOPSCALE_FAULT": point})
    assert proc.returncode == -signal.SIGKILL, f"never reached {point}: {proc.stderr}"
    state = read_results(out)
    if want == "A":
        assert state == runs.state("A")
    else:
        assert "recommendations.parquet" not in state and "shopscale.sqlite" not in state
        assert state["recommendations.csv"] and state["summary.json"]["outputs"]  # type: ignore[index]
    runs.check(run_recommend(runs.b, out, *args, env=runs.env))
    assert "recommendations.parquet" not in read_results(out) and leftovers(out) == []


def test_kill_while_pruning(runs: Runs, tmp_path: Path) -> None:
    """Killed while removing the old version (keep 1), B is published and the rerun cleans up."""
    args = ("--keep-versions", "1")
    out = runs.folder_with_a(tmp_path)
    proc = run_recommend(runs.b, out, *args, env={**runs.env, "SHOPSCALE_FAULT": "prune"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert_whole(out, runs, "B")
    rerun_is_clean(out, runs, *args)


def test_a_held_lock_fails_fast_with_the_holders_pid(runs: Runs, tmp_path: Path) -> None:
    """While another process holds the folder, a run exits 2 naming its pid and changes nothing."""
    out = runs.folder_with_a(tmp_path)
    fd = os.open(out / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, b"424242\n", 0)
        proc = run_recommend(runs.b, out, env=runs.env)
    finally:
        os.close(fd)
    assert proc.returncode == 2, proc.stderr
    assert "another shopscale run (pid 424242) is writing here" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert_whole(out, runs, "A")


def test_two_runs_at_once_leave_one_whole_result(runs: Runs, tmp_path: Path) -> None:
    """Runs A and B started together: each exits 0 or 2 (lock), and the folder is wholly one."""
    out = runs.folder_with_a(tmp_path)
    shutil.rmtree(out)
    procs = [
        subprocess.Popen(
            recommend_cmd(events, out),
            env=runs.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for events in (runs.a, runs.b)
    ]
    results = [(p.wait(), p.stderr.read() if p.stderr else "") for p in procs]
    for p in procs:
        p.communicate()
    for code, err in results:
        assert code == 0 or (code == 2 and "another shopscale run" in err), err
    assert read_results(out) in (runs.state("A"), runs.state("B"))
    assert leftovers(out) == []


def _limit_file_size() -> None:
    """In the child: no file may grow past 8 KiB (run B's recommendations.parquet is 11 KiB,
    its SQLite file 100 KiB; the log and the writability probe stay below)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 1024, 8 * 1024))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@pytest.mark.parametrize("db", ["sqlite", "none"])
def test_full_disk_is_one_line_and_keeps_the_old_result(
    runs: Runs, tmp_path: Path, db: str
) -> None:
    """Writes failing with EFBIG (a file size limit standing in for a full disk; SQLite or,
    without it, Parquet hits it first): exit 2, one line naming the cause, the previous result
    intact, nothing left behind."""
    out = runs.folder_with_a(tmp_path)
    proc = subprocess.run(
        recommend_cmd(runs.b, out, "--db", db),
        env=runs.env,
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search("too large|disk I/O", errors[0]), proc.stderr
    assert ".staging-" not in errors[0]  # named where the user looks, not the temp folder
    assert "Traceback" not in proc.stderr
    assert_whole(out, runs, "A")
    assert leftovers(out) == []
