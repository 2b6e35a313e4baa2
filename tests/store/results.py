"""Read a results folder the way its users do: every documented path, nothing else.

``read_results`` is what a reader sees at one instant (absent paths are left out), in a form
that compares equal for two folders holding the same run; ``leftovers`` lists what a finished
run must not leave behind.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

import shopscale
from shopscale.store.versions import VersionedFolder

DOCUMENTED = (
    "recommendations.parquet",
    "recommendations.csv",
    "recommendations.jsonl",
    "similar_items.parquet",
    "summary.json",
    "rejects.csv",
    "shopscale.sqlite",
)
TABLES = ("recommendations", "similar_items")


def read_results(out: Path) -> dict[str, object]:
    """Content at each documented path of ``out`` (the folder's own path written as OUT)."""
    state: dict[str, object] = {}
    for name in DOCUMENTED:
        path = out / name
        if not path.exists():
            continue
        if name.endswith(".parquet"):
            state[name] = pq.read_table(path).to_pylist()
        elif name == "shopscale.sqlite":
            state[name] = _sqlite_tables(path)
        elif name == "summary.json":
            state[name] = _summary(path)
        else:
            state[name] = path.read_text()
    return state


def _summary(path: Path) -> dict[str, object]:
    """summary.json with the folder it was written for as OUT (a copied folder compares
    equal to its original) and without wall times (they differ between two runs)."""
    text = path.read_text()
    written_for = os.path.dirname(json.loads(text)["outputs"]["summary"])
    doc: dict[str, object] = json.loads(text.replace(written_for, "OUT"))
    doc.pop("seconds")
    return doc


def _sqlite_tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the result tables, in the order of their indexes."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
            for table in TABLES
        }
    finally:
        conn.close()


def leftovers(out: Path) -> list[str]:
    """Entries a finished run must not leave: staging and trash folders, temp links and
    files, dangling result links."""
    found = []
    for base in (out, out / ".versions"):
        for path in base.iterdir() if base.is_dir() else []:
            if path.name.startswith((".staging-", ".trash-", ".link-", ".tmp-", ".shopscale")):
                found.append(str(path.relative_to(out)))
            elif path.is_symlink() and not path.exists():
                found.append(f"{path.relative_to(out)} (dangling)")
    current = VersionedFolder(out).current()
    if current is not None:
        found += [str(p) for p in current.rglob(".*")]
    return found


def write_log(path: Path, seed: int, *, bad_line: str) -> Path:
    """A 2,000-event CSV log over 100 users and 40 items, plus one rejected line."""
    rng = np.random.default_rng(seed)
    lines = ["user_id,action,item_id,timestamp"]
    for u in range(100):
        group = int(rng.integers(0, 4))
        for _ in range(20):
            item = int(group * 10 + rng.integers(0, 10))
            action = rng.choice(["viewed", "carted", "purchased"], p=[0.7, 0.2, 0.1])
            lines.append(f"{u},{action},{item},{1_700_000_000 + int(rng.integers(0, 10**6))}")
    lines.insert(500, bad_line)
    path.write_text("\n".join(lines) + "\n")
    return path


SRC = str(Path(shopscale.__file__).resolve().parents[1])
"""The source folder of the shopscale under test (subprocesses must run the same code)."""


def shopscale_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a shopscale subprocess: logs in ``tmp``, this checkout's code."""
    env = {
        "SHOPSCALE_LOG_DIR": str(tmp / "logs"),
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "200",
        "HOME": str(Path.home()),
        "PYTHONPATH": SRC,
    }
    if "NUMBA_CACHE_DIR" in os.environ:
        env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]
    return {**env, **extra}


def recommend_cmd(events: Path, out: Path, *args: str) -> list[str]:
    """The command line of ``shopscale recommend`` without a preview."""
    command = [sys.executable, "-m", "shopscale", "recommend", str(events), "--out", str(out)]
    return [*command, "--preview", "0", *args]


def run_recommend(
    events: Path, out: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``shopscale recommend`` to completion (or death) and return the process."""
    cmd = recommend_cmd(events, out, *args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
