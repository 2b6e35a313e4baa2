"""Hostile input through the real CLI: one exact error line (exit 2) or exact rejects.csv rows,
and rows read = accepted + rejected in summary.json. A representative subset of the corpus;
tests/engine/local/test_reader_hostile.py covers every file in-process."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shopscale.errors import InputError
from shopscale.events import InputFiles, detect_format, resolve_inputs
from tests.engine.local.test_reader_hostile import ERRORS, HOSTILE, REJECTS, UNKNOWN

LOG_RECORD = re.compile(r"^(\[[^\]]*\])?\s+(DEBUG|INFO)\s")
"""A log line the CLI prints beside the error (e.g. 'read+validate failed after 0.01 s')."""


def _recommend(inputs: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``shopscale recommend INPUTS --out OUT --db none --preview 0`` as a user would."""
    env = dict(os.environ, SHOPSCALE_LOG_DIR=str(out.parent / "logs"), COLUMNS="1000")
    args = ["recommend", str(inputs), "--out", str(out), "--db", "none", "--preview", "0"]
    return subprocess.run(
        [sys.executable, "-m", "shopscale", *args, *extra],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line on stderr (exit 2, no traceback, nothing else but log records)."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert all(LOG_RECORD.match(line) for line in lines if line not in errors), proc.stderr
    return errors[0]


def _summary(out: Path) -> dict[str, object]:
    """summary.json of a completed run, checked for rows read = accepted + rejected."""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_read"] == summary["accepted"] + summary["rejected"]
    return summary  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "name",
    [
        "quote_unterminated.csv",
        "utf16.csv",
        "header_only.csv",
        "truncated.csv.gz",
        "ids_struct.parquet",
        "text_named.parquet",
        "notes.md",
    ],
)
def test_cli_hostile_file_is_one_error_line(tmp_path: Path, name: str) -> None:
    """The CLI turns a file that cannot be read into exit 2 and the exact one-line message."""
    proc = _recommend(HOSTILE / name, tmp_path / "out")
    assert _error_line(proc) == f"error: {HOSTILE / name}{ERRORS[name]}"


@pytest.mark.parametrize(
    "name",
    [
        "timestamps.csv",
        "ids.csv",
        "fields.csv",
        "latin1.csv",
        "quote_closes_later.csv",
        "ids.jsonl",
        "ids_float.parquet",
    ],
)
def test_cli_hostile_file_gives_exact_rejects(tmp_path: Path, name: str) -> None:
    """The run completes; rejects.csv holds exactly the expected rows; the counts add up."""
    out = tmp_path / "out"
    proc = _recommend(HOSTILE / name, out, "--max-reject-ratio", "1")
    assert proc.returncode == 0, proc.stderr
    with open(out / "rejects.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["file", "line", "reason", "row"]
    accepted, want = REJECTS[name]
    assert [(f, int(line), reason) for f, line, reason, _ in rows[1:]] == [
        (str(HOSTILE / name), line, reason) for line, reason, _ in want
    ]
    for (*_, row), (*_, text) in zip(rows[1:], want, strict=True):
        assert row == text if name.endswith(".csv") else text in row
    summary = _summary(out)
    assert (summary["accepted"], summary["rejected"]) == (accepted, len(want))


def test_cli_one_far_future_row_does_not_change_the_lists(tmp_path: Path) -> None:
    """A log with one row dated 9999-12-31 gives the very lists of the log without that row."""
    name = "far_future_one_row.csv"
    lines = (HOSTILE / name).read_text().splitlines(keepends=True)
    without = tmp_path / "without.csv"
    without.write_text("".join(lines[:-1]))
    assert (
        _recommend(HOSTILE / name, tmp_path / "with", "--max-reject-ratio", "0.1").returncode == 0
    )
    assert _recommend(without, tmp_path / "without").returncode == 0
    summary = _summary(tmp_path / "with")
    assert (summary["rows_read"], summary["rejected"]) == (41, 1)
    assert (
        summary["users_with_model_recs"] == _summary(tmp_path / "without")["users_with_model_recs"]
    )
    recs = pq.read_table(tmp_path / "with" / "recommendations.parquet")
    assert recs.equals(pq.read_table(tmp_path / "without" / "recommendations.parquet"))


def test_cli_log_in_milliseconds_stops_in_one_line(tmp_path: Path) -> None:
    """A log whose every timestamp is in milliseconds stops (exit 2) naming the unit: nothing
    is decayed to zero."""
    name = "milliseconds_all.csv"
    line = _error_line(_recommend(HOSTILE / name, tmp_path / "out", "--max-reject-ratio", "1"))
    assert line == f"error: {HOSTILE / name}{ERRORS[name]}"


def test_cli_folder_with_readme_and_disguised_parquet(tmp_path: Path) -> None:
    """A folder's README and LICENSE are skipped and listed in summary.json; a Parquet file
    named .csv given beside it is read as Parquet."""
    out = tmp_path / "out"
    folder = HOSTILE / "folder_with_readme"
    proc = _recommend(folder, out)
    assert proc.returncode == 0, proc.stderr
    assert f"skipping {folder / 'README.md'}" in " ".join(proc.stderr.split())
    files = _summary(out)["files"]
    assert [f.get("skipped") for f in files] == [None, UNKNOWN, UNKNOWN]  # type: ignore[attr-defined]
    proc = _recommend(HOSTILE / "parquet_named.csv", tmp_path / "pq")
    assert proc.returncode == 0, proc.stderr
    assert _summary(tmp_path / "pq")["accepted"] == 1


def test_detect_format_trusts_content_over_names() -> None:
    """Magic bytes decide Parquet and gzip; the suffix decides text; unknown types are None."""
    assert detect_format(HOSTILE / "parquet_named.csv") == ("parquet", False)
    assert detect_format(HOSTILE / "gzip_named.csv") == ("csv", True)
    assert detect_format(HOSTILE / "plain_named.csv.gz") == ("csv", False)
    assert detect_format(HOSTILE / "bom.jsonl") == ("jsonl", False)
    assert detect_format(HOSTILE / "notes.md") is None


def test_resolve_inputs_dedupes_and_skips() -> None:
    """Folder files of unknown type are skipped (listed); a file reached twice is kept once."""
    folder = HOSTILE / "folder_with_readme"
    files = resolve_inputs([folder, folder / "events.csv", str(folder / "*")])
    assert isinstance(files, InputFiles)
    assert list(files) == [folder / "events.csv"]
    assert [p.name for p, _ in files.skipped] == ["LICENSE", "README.md"]


def test_file_uris_are_local_paths_and_other_uris_need_spark() -> None:
    """Without an engine that lists URIs, ``file://`` names a local path and ``hdfs://`` fails
    in one line naming it (``Path`` would fold it into a local ``hdfs:/...``)."""
    folder = HOSTILE / "folder_with_readme"
    assert list(resolve_inputs(f"file://{folder.absolute()}")) == [folder.absolute() / "events.csv"]
    with pytest.raises(InputError, match="--engine spark") as info:
        resolve_inputs("hdfs:///logs/2026-11-*/")
    assert str(info.value).startswith("hdfs:///logs/2026-11-*/: ")


def test_uris_are_kept_for_the_engine_and_never_mixed_with_paths() -> None:
    """For Spark, URIs pass through unexpanded, in order; a mix of paths and URIs fails."""
    files = resolve_inputs(["s3a://b/logs/", "file:///x/*.csv"], uris=True)
    assert (list(files), files.uris) == ([], ["s3a://b/logs/", "file:///x/*.csv"])
    with pytest.raises(InputError, match="mixed"):
        resolve_inputs([str(HOSTILE / "folder_with_readme"), "hdfs:///logs/"], uris=True)
