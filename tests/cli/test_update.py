"""``shopscale update`` as a user runs it: a real subprocess on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from shopscale.recommend.model import FORMAT_VERSION
from tests.strategies import T0

SRC = Path(__file__).resolve().parents[2] / "src"


def shopscale(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m shopscale ARGS`` on this checkout's source (not an installed copy)."""
    env = {
        "PYTHONPATH": str(SRC),
        "SHOPSCALE_LOG_DIR": str(cwd / "logs"),
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "200",
        "HOME": str(Path.home()),
    }
    if "NUMBA_CACHE_DIR" in os.environ:
        env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]
    return subprocess.run(
        [sys.executable, "-m", "shopscale", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _results(folder: Path) -> dict[str, bytes]:
    """Every documented file of a results folder (read through its stable links)."""
    names = ["recommendations.parquet", "similar_items.parquet", "summary.json", "rejects.csv"]
    found = {name: (folder / name).read_bytes() for name in names}
    model = folder / "model"
    files = (p for p in model.rglob("*") if p.is_file())
    return found | {f"model/{p.relative_to(model)}": p.read_bytes() for p in files}


def _log(path: Path, rows: list[str]) -> Path:
    """A small timed CSV log; a row's last field is seconds after ``T0`` (a plausible time)."""
    timed = [
        f"{r.rsplit(',', 1)[0]},{T0 + int(r.rsplit(',', 1)[1])}" if r.count(",") == 3 else r
        for r in rows
    ]
    path.write_text("user_id,action,item_id,timestamp\n" + "\n".join(timed) + "\n")
    return path


def test_update_cli_folds_and_refuses(tmp_path: Path) -> None:
    """``update`` folds a new file into a results folder (lists equal recommend on both
    files), and refuses the same file again and a newer model format with one line, exit 2."""
    _log(
        tmp_path / "a.csv",
        ["u1,viewed,i1,1", "u1,purchased,i1,2", "u2,viewed,i1,3"],
    )
    second = _log(tmp_path / "b.csv", ["u2,purchased,i2,4", "u3,viewed,i2,5", "bad,line"])
    args = ("--db", "none", "--preview", "0", "--max-reject-ratio", "0.5")
    assert shopscale(tmp_path, "recommend", "a.csv", "--out", "recs", *args).returncode == 0
    done = shopscale(tmp_path, "update", "recs", "b.csv")
    assert done.returncode == 0, done.stderr
    assert shopscale(tmp_path, "recommend", "a.csv", "b.csv", "--out", "all", *args).returncode == 0
    for name in ("recommendations.parquet", "similar_items.parquet"):
        assert pq.read_table(tmp_path / "recs" / name).equals(
            pq.read_table(tmp_path / "all" / name)
        )
    summary = json.loads((tmp_path / "recs" / "summary.json").read_text())
    assert summary["rows_read"] == 3 == summary["accepted"] + summary["rejected"]
    assert (tmp_path / "recs" / "rejects.csv").read_text().count("b.csv") == 1
    assert not list(tmp_path.glob("recs/.staging-*"))
    assert len(list(tmp_path.glob("recs/.versions/*"))) == 2  # the recommend run's, and this

    again = shopscale(tmp_path, "update", "recs", str(second))
    lines = [line for line in again.stderr.splitlines() if line.strip()]
    assert again.returncode == 2
    assert lines == [f"error: {second}: already folded into this model (same content as b.csv)"]

    state = tmp_path / "recs" / "model" / "state.json"
    state.write_text(json.dumps(json.loads(state.read_text()) | {"format_version": 7}))
    third = _log(tmp_path / "c.csv", ["u4,viewed,i1,6"])
    newer = shopscale(tmp_path, "update", "recs", str(third))
    lines = [line for line in newer.stderr.splitlines() if line.strip()]
    assert newer.returncode == 2 and len(lines) == 1
    newer_than = f"model format version 7 is newer than this shopscale reads ({FORMAT_VERSION})"
    assert newer_than in lines[0]


def test_update_over_reject_budget_keeps_result_and_rejects(tmp_path: Path) -> None:
    """An update over the reject budget exits 2 with one error line naming the rejects it
    kept outside the result (which stays as it was), and that file lists the bad rows; a
    later ``--no-lists`` update publishes no lists, and ``show`` says so in one line."""
    _log(
        tmp_path / "a.csv",
        ["u1,viewed,i1,1", "u1,purchased,i1,2", "u2,viewed,i1,3"],
    )
    _log(tmp_path / "b.csv", ["u2,purchased,i2,4", "bad,line", ",viewed,i3,5"])
    assert (
        shopscale(tmp_path, "recommend", "a.csv", "--out", "recs", "--db", "none").returncode == 0
    )
    before = _results(tmp_path / "recs")
    failed = shopscale(tmp_path, "update", "recs", "b.csv")
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    kept = tmp_path / "recs" / "last-failed" / "rejects.csv"
    assert failed.returncode == 2 and len(errors) == 1 and "Traceback" not in failed.stderr
    assert "2 of 3 rows rejected" in errors[0]
    assert errors[0].endswith("see recs/last-failed/rejects.csv")
    assert kept.read_text().count("b.csv") == 2
    assert _results(tmp_path / "recs") == before
    # a --no-lists update publishes no lists: show says so in one line, similar still works
    _log(tmp_path / "c.csv", ["u3,viewed,i1,6", "u3,purchased,i1,7"])
    assert shopscale(tmp_path, "update", "recs", "c.csv", "--no-lists").returncode == 0
    assert not (tmp_path / "recs" / "recommendations.parquet").exists()
    shown = shopscale(tmp_path, "show", "recs", "--user", "u1")
    errors = [line for line in shown.stderr.splitlines() if line.startswith("error:")]
    assert shown.returncode == 2 and len(errors) == 1
    assert errors[0].endswith("this result has no recommendations (written by update --no-lists)")
