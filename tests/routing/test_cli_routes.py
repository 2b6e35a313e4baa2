"""The `shopscale routes` commands end to end, as a user runs them (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
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
    assert "bad_orders.csv:2: negative demand" in done.stderr.replace("\n", " ")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "p").exists()


def test_missing_input_fails_before_solving(rdata: Path, tmp_path: Path) -> None:
    """A missing file is one line naming it; no solve progress is shown for a plan that never
    started, and the log says the read failed rather than how long it took."""
    done = _cli("routes", "plan", tmp_path / "missing.vrp", "--out", tmp_path / "p")
    assert done.returncode == 2
    assert "missing.vrp: file not found" in done.stderr.replace("\n", " ")
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
