"""``update`` starts without pandas (pyarrow then takes its "no pandas" path); other commands
and ``SHOPSCALE_ARROW_PANDAS=1`` keep it importable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from shopscale.cli._startup import without_pandas

# a fresh interpreter: what ``main`` does first, then pyarrow's array and table building
PROBE = (
    "import sys\n"
    "from shopscale.cli._startup import without_pandas\n"
    "done = without_pandas(sys.argv[1])\n"
    "import numpy as np, pyarrow as pa\n"
    "pa.array(np.arange(3)); pa.array(['a', None]); pa.table({'x': [1, 2]})\n"
    "try:\n"
    "    import pandas\n"
    "    importable = True\n"
    "except ImportError:\n"
    "    importable = False\n"
    "print(done, 'pandas' in sys.modules, importable)\n"
)


def _probe(command: str, env: dict[str, str]) -> str:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, command], env=env, capture_output=True, text=True, check=True
    )
    return run.stdout.strip()


def test_update_runs_without_pandas_and_others_keep_it() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHOPSCALE_ARROW_PANDAS"}
    assert _probe("update", env) == "True False False"
    assert _probe("recommend", env) == "False True True"
    assert _probe("update", env | {"SHOPSCALE_ARROW_PANDAS": "1"}) == "False True True"


def test_nothing_changes_once_pandas_is_imported() -> None:
    import pandas  # noqa: F401  (this test process: pandas is in use already)

    assert without_pandas("update") is False


def test_update_command_without_pandas_folds(tmp_path: Path) -> None:
    """The real command, in its own process: the fold gives the batch job's lists."""
    head = "user_id,action,item_id,timestamp\n"
    events, new = tmp_path / "events.csv", tmp_path / "new.csv"
    old = "1,viewed,a,1764590000\n2,purchased,a,1764590001\n3,viewed,b,1764590001\n"
    events.write_text(head + old)
    new.write_text(head + "1,purchased,a,1764590002\n3,carted,a,1764590003\n")
    out = tmp_path / "recs"
    exe = [sys.executable, "-m", "shopscale"]
    run = {"capture_output": True, "text": True, "check": True}
    subprocess.run([*exe, "recommend", str(events), "--out", str(out), "--db", "none"], **run)
    subprocess.run([*exe, "update", str(out), str(new)], **run)
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["rows_read"], summary["accepted"]) == (2, 2)
    both = tmp_path / "both"  # the batch job on every event gives the same lists
    cmd = [*exe, "recommend", str(events), str(new), "--out", str(both), "--db", "none"]
    subprocess.run(cmd, **run)
    lists = [pq.read_table(folder / "recommendations.parquet") for folder in (out, both)]
    assert lists[0].num_rows == 4 and lists[0].equals(lists[1])
