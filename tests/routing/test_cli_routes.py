"""The `shopscale routes` commands end to end, as a user runs them (real processes)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m shopscale ...` and capture its output."""
    cmd = [sys.executable, "-m", "shopscale", *map(str, args)]
    # the timeout only guards against a hang; it sits below pytest-timeout's 600 s per test
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=540)


@pytest.fixture(scope="module")
def plan_dir(tables: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plan written by `routes plan` on the small tables."""
    out = tmp_path_factory.mktemp("plan")
    done = _cli(
        "routes",
        "plan",
        tables["orders"],
        "--fleet",
        tables["fleet"],
        "--depots",
        tables["depots"],
        "--out",
        out,
        "--time-limit",
        "2s",
    )
    assert done.returncode == 0, done.stderr
    return out


def test_plan_writes_checked_files(plan_dir: Path) -> None:
    """`routes plan` writes the plan files and its summary says the checker passed."""
    summary = json.loads((plan_dir / "summary.json").read_text())
    assert summary["check"]["ok"]
    assert summary["routes"] >= 1
    assert (plan_dir / "map.png").stat().st_size > 0


def test_check_accepts_the_plan(plan_dir: Path, tables: dict[str, Path]) -> None:
    """`routes check` passes on the produced plan (depots found from the summary)."""
    done = _cli("routes", "check", plan_dir, tables["orders"], "--fleet", tables["fleet"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all constraints hold" in done.stdout


def test_check_rejects_tampered_plan(
    plan_dir: Path, tables: dict[str, Path], tmp_path: Path
) -> None:
    """`routes check` exits 1 and names the violation when a stop is removed."""
    doc = json.loads((plan_dir / "plan.json").read_text())
    doc["routes"][0]["stops"].pop(0)
    for name in ("summary.json", "plan.csv"):
        (tmp_path / name).write_text((plan_dir / name).read_text())
    (tmp_path / "plan.json").write_text(json.dumps(doc))
    done = _cli(
        "routes",
        "check",
        tmp_path,
        tables["orders"],
        "--fleet",
        tables["fleet"],
        "--depots",
        tables["depots"],
    )
    assert done.returncode == 1
    assert "not served" in done.stdout


def test_show_prints_table(plan_dir: Path) -> None:
    """`routes show` prints the per-vehicle-type table and the unserved optional order."""
    done = _cli("routes", "show", plan_dir)
    assert done.returncode == 0, done.stderr
    assert "vehicle type" in done.stdout
    assert "o11" in done.stdout


def test_bad_input_is_one_clear_error(rdata: Path, tmp_path: Path) -> None:
    """Bad rows exit with code 2, naming file and row, without a traceback or any plan."""
    done = _cli(
        "routes",
        "plan",
        rdata / "bad_orders.csv",
        "--fleet",
        rdata / "fleet.csv",
        "--depots",
        rdata / "depots.csv",
        "--out",
        tmp_path / "p",
    )
    assert done.returncode == 2
    assert "bad_orders.csv:2: negative demand" in _words(done.stderr)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "p").exists()


def test_missing_input_fails_before_solving(rdata: Path, tmp_path: Path) -> None:
    """A missing file is one line naming it; no solve progress is shown for a plan that never
    started, and the log says the read failed rather than how long it took."""
    done = _cli("routes", "plan", tmp_path / "missing.vrp", "--out", tmp_path / "p")
    assert done.returncode == 2
    assert "missing.vrp: file not found" in _words(done.stderr)
    assert "solving" not in done.stdout + done.stderr
    assert "read failed after" in done.stdout + done.stderr
    assert "read took" not in done.stdout + done.stderr


def test_vrplib_plan(rdata: Path, tmp_path: Path) -> None:
    """A VRPLIB file plans without tables, and plan.csv lists node numbers as order ids."""
    done = _cli("routes", "plan", rdata / "tiny.vrp", "--out", tmp_path, "--time-limit", "1s")
    assert done.returncode == 0, done.stderr
    ids = {line.split(",")[3] for line in (tmp_path / "plan.csv").read_text().splitlines()[1:]}
    assert ids == {"2", "3", "4", "5", "6"}


def test_bad_time_limit_is_config_error(rdata: Path, tmp_path: Path) -> None:
    """An unreadable --time-limit is a one-line config error (exit 2)."""
    done = _cli("routes", "plan", rdata / "tiny.vrp", "--out", tmp_path, "--time-limit", "soon")
    assert done.returncode == 2
    assert "--time-limit" in done.stderr


def _words(text: str) -> str:
    """Output with rich's line wrapping undone (any run of whitespace is one space)."""
    return " ".join(text.split())


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def previous_plan(rdata: Path, tmp_path: Path) -> Path:
    """A plan folder written by an earlier `routes plan` run."""
    out = tmp_path / "plan"
    done = _cli("routes", "plan", rdata / "tiny.vrp", "--out", out, "--time-limit", "1s")
    assert done.returncode == 0, done.stderr
    return out


def _group_gone(pgid: int) -> bool:
    """Whether no process of the process group is left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "sigint-to-driver"])
def test_interrupt_stops_and_keeps_previous_plan(
    rdata: Path, previous_plan: Path, to_group: bool
) -> None:
    """SIGINT during the solve (to the terminal's process group, as Ctrl-C sends it, or to the
    driver alone) stops the run and its workers, says "interrupted", exits 130 and leaves the
    previous plan byte for byte; a 20-minute budget means a run that ignored it would outlive
    the pytest timeout."""
    before = _snapshot(previous_plan)
    cmd = [sys.executable, "-m", "shopscale", "routes", "plan", str(rdata / "tiny.vrp")]
    cmd += ["--out", str(previous_plan), "--time-limit", "20m"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # the solve starts once the inputs are validated
        if "validate took" in line:
            break
    time.sleep(2)  # let the worker processes start solving
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait() == 130
    assert "interrupted" in rest
    assert "Traceback" not in rest
    while not _group_gone(proc.pid):  # the workers must go too (else the test times out)
        time.sleep(0.2)
    assert _snapshot(previous_plan) == before
    assert sorted(p.name for p in previous_plan.parent.iterdir()) == ["plan"]


def test_out_that_is_a_file_fails_before_reading(rdata: Path, tmp_path: Path) -> None:
    """An --out that is a file is one line naming it, exit 2, before the inputs are read."""
    target = tmp_path / "plan.txt"
    target.write_text("not a folder")
    done = _cli("routes", "plan", rdata / "tiny.vrp", "--out", target, "--time-limit", "1s")
    assert done.returncode == 2
    assert "plan.txt: --out exists and is not a folder" in _words(done.stderr)
    assert "read took" not in done.stderr
    assert target.read_text() == "not a folder"


def test_out_with_other_files_is_not_replaced(rdata: Path, tmp_path: Path) -> None:
    """An --out folder holding files that are not a plan is refused, never replaced."""
    (tmp_path / "notes.txt").write_text("mine")
    done = _cli("routes", "plan", rdata / "tiny.vrp", "--out", tmp_path, "--time-limit", "1s")
    assert done.returncode == 2
    assert "not a plan (notes.txt)" in _words(done.stderr)
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder this process may not write in: mode 555, or immutable (chattr +i) for root,
    which writes through modes."""
    folder = tmp_path / "locked"
    folder.mkdir()
    root = os.geteuid() == 0
    if root:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
    yield folder
    if root:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o755)


def test_read_only_out_fails_before_reading(rdata: Path, read_only_dir: Path) -> None:
    """An --out inside a read-only folder is one line naming it, exit 2, before reading."""
    out = read_only_dir / "plan"
    done = _cli("routes", "plan", rdata / "tiny.vrp", "--out", out, "--time-limit", "1s")
    assert done.returncode == 2, done.stderr
    assert "locked/plan: --out cannot be written" in _words(done.stderr)
    assert "read took" not in done.stderr
    assert list(read_only_dir.iterdir()) == []


def _file_limit(size: int) -> Callable[[], None]:
    """Child set-up: files may grow to ``size`` bytes (a full disk, without root or tmpfs)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def _limited_cli(size: int, *args: str | Path, logs: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a file-size limit (Python ignores SIGXFSZ, so writes fail EFBIG)."""
    cmd = [sys.executable, "-m", "shopscale", *map(str, args)]
    env = {**os.environ, "SHOPSCALE_LOG_DIR": str(logs), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, preexec_fn=_file_limit(size), timeout=540
    )


def test_full_disk_fails_before_reading(rdata: Path, tmp_path: Path) -> None:
    """When not even the probe fits, the run stops before reading: one line, exit 2."""
    out = tmp_path / "plan"
    done = _limited_cli(
        4096,
        "routes",
        "plan",
        rdata / "tiny.vrp",
        "--out",
        out,
        "--time-limit",
        "1s",
        logs=tmp_path / "logs",
    )
    assert done.returncode == 2, done.stderr
    assert "plan: --out cannot be written: File too large" in _words(done.stderr)
    assert "read took" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]


def test_full_disk_at_the_end_keeps_previous_plan(
    rdata: Path, previous_plan: Path, tmp_path: Path
) -> None:
    """A disk that fills during the run (the probe fits, map.png does not) is one line,
    exit 2, and the previous plan is left byte for byte with no leftovers."""
    before = _snapshot(previous_plan)
    assert max(len(b) for b in before.values()) > 16384  # map.png cannot be written again
    done = _limited_cli(
        16384,
        "routes",
        "plan",
        rdata / "tiny.vrp",
        "--out",
        previous_plan,
        "--time-limit",
        "1s",
        logs=tmp_path / "logs",
    )
    assert done.returncode == 2, done.stderr
    text = _words(done.stderr)
    assert "plan: could not write the plan: File too large; previous plan unchanged" in text
    assert "Traceback" not in done.stderr
    assert _snapshot(previous_plan) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "plan"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_demand.vrp", "no_demand.vrp: a CVRP instance (EUC_2D) needs DEMAND_SECTION"),
        ("dimension_mismatch.vrp", "dimension_mismatch.vrp:6: NODE_COORD_SECTION has 4 of"),
        ("bad_numbers.vrp", "bad_numbers.vrp:8: NODE_COORD_SECTION: node 2: 'four' is not"),
        ("duplicate_ids.vrp", "duplicate_ids.vrp:9: NODE_COORD_SECTION: node 2 appears again"),
    ],
)
def test_bad_vrplib_is_refused_by_line(
    rdata: Path, tmp_path: Path, name: str, message: str
) -> None:
    """A VRPLIB file with a missing section, a short section, a non-number or a repeated id
    exits 2 naming file, line and cause; nothing is solved or written."""
    done = _cli("routes", "plan", rdata / name, "--out", tmp_path / "p", "--time-limit", "1s")
    assert done.returncode == 2, done.stderr
    assert message in _words(done.stderr)
    assert "unexpected" not in done.stderr
    assert "read failed" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_infeasible_input_is_refused_before_solving(rdata: Path, tmp_path: Path) -> None:
    """Windows no route can meet are refused before the solve (a 20-minute budget would
    outlive the pytest timeout), naming node numbers and times in the file's units."""
    done = _cli(
        "routes",
        "plan",
        rdata / "unreachable_windows.vrp",
        "--out",
        tmp_path / "p",
        "--time-limit",
        "20m",
    )
    assert done.returncode == 2, done.stderr
    text = _words(done.stderr)
    assert "order 2: its window ends at 20 but the earliest arrival from depot 1 is 50" in text
    assert "order 4: the earliest return to depot 1 is 105" in text
    assert "solve took" not in text
    assert list(tmp_path.iterdir()) == []


def test_unreachable_optional_order_gets_its_reason(rdata: Path, tmp_path: Path) -> None:
    """An optional order no vehicle can reach is planned around, and summary.json says why in
    the file's units instead of blaming its prize."""
    done = _cli(
        "routes",
        "plan",
        rdata / "unreachable_optional.csv",
        "--fleet",
        rdata / "fleet.csv",
        "--depots",
        rdata / "depots.csv",
        "--out",
        tmp_path / "p",
        "--time-limit",
        "1s",
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "p" / "summary.json").read_text())
    [item] = summary["unserved"]
    assert item["order_id"] == "far_optional"
    assert "its window ends at 60 s (00:01)" in item["reason"]


@pytest.fixture(scope="module")
def failed_plan(rdata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A plan of one truck for two places due at the same time (only the solve can tell)."""
    out = tmp_path_factory.mktemp("failed") / "plan"
    done = _cli(
        "routes", "plan", rdata / "one_truck_two_places.vrp", "--out", out, "--time-limit", "1s"
    )
    assert done.returncode == 2, done.stderr
    return out, _words(done.stderr)


def test_solve_infeasibility_names_orders(failed_plan: tuple[Path, str]) -> None:
    """When only the solve shows that a required order cannot be served, the run exits 2
    naming it by its id, and the plan it wrote serves the rest within every window."""
    out, text = failed_plan
    assert "no plan serves every required order within the time limit: 1 left unserved" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["check"]["violations"] == [
        f"required order {summary['unserved'][0]['order_id']} not served"
    ]


def test_show_says_the_check_failed(failed_plan: tuple[Path, str]) -> None:
    """`routes show` on a plan that failed the check says so plainly and exits 1."""
    done = _cli("routes", "show", failed_plan[0])
    assert done.returncode == 1, done.stderr
    assert "CHECK FAILED: this plan violates 1 constraint(s); do not dispatch it" in _words(
        done.stdout
    )
