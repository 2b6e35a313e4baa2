"""Inputs named by URIs and read through Spark's (Hadoop's) file systems: the same rows, rejects
(file, line, reason), counts, lists and model state as the local engine reading the same files
from local paths; the same one-line errors, naming the URI."""

from __future__ import annotations

import csv
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from shopscale.errors import ShopscaleError
from shopscale.events import EventsParams
from shopscale.recommend.model import read_state, state_table
from shopscale.recommend.pipeline import OutputParams, run
from tests.engine.local.test_reader_hostile import ERRORS, HOSTILE, REJECTS
from tests.engine.test_conformance import _outputs, _same_rows

pytestmark = [pytest.mark.xdist_group("spark"), pytest.mark.spark]

ODD_NAME = "a b%20é.csv"
"""A file name with a space, a percent escape and a non-ASCII letter (URIs and Hadoop paths
spell such names differently; the file must still be found, read and named)."""


def _logs(folder: Path) -> Path:
    """Every hostile file that reads with rejects (no file error), one under an odd name and
    one in a sub-folder, plus files a folder listing must leave out or skip."""
    folder.mkdir()
    (folder / "sub").mkdir()
    for n, name in enumerate(sorted(REJECTS)):
        target = folder / ("sub" if n % 2 else "") / name
        shutil.copy(HOSTILE / name, target)
    shutil.copy(HOSTILE / "ids.csv", folder / ODD_NAME)
    (folder / "README").write_text("not events\n")  # unknown type: skipped, listed
    (folder / "_SUCCESS").write_text("")  # a writer's marker: never listed
    (folder / ".part.crc").write_text("x")  # hidden: never listed
    return folder


def _rejects(out: Path) -> list[dict[str, str]]:
    with open(out / "rejects.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _as_uri_names(rows: list[dict[str, Any]], root: Path, prefix: str) -> list[dict[str, Any]]:
    """Rows naming local files under ``root`` renamed as the URIs Hadoop lists them by."""
    return [{**r, "file": r["file"].replace(str(root), prefix, 1)} for r in rows]


def _check_same(local: Path, spark: Path, root: Path, prefix: str) -> None:
    """Same lists, similar items, model state, rejects and per-file counts (names mapped)."""
    for got, want in zip(_outputs(spark), _outputs(local), strict=True):
        _same_rows(got, want)
    assert state_table(read_state(spark / "model")) == state_table(read_state(local / "model"))
    assert _rejects(spark) == _as_uri_names(_rejects(local), root, prefix)
    got, want = (json.loads((f / "summary.json").read_text()) for f in (spark, local))
    for key in ("rows_read", "accepted", "rejected", "users", "items", "recommendations"):
        assert got[key] == want[key], key
    assert got["rows_read"] == got["accepted"] + got["rejected"]
    assert sorted(got["files"], key=str) == sorted(
        _as_uri_names(want["files"], root, prefix), key=str
    )


def test_a_folder_uri_reads_as_the_local_folder(spark_session: object, tmp_path: Path) -> None:
    """``file:///folder``: every file below it (sub-folders, gzip, Parquet, JSON Lines, an odd
    name) read through Hadoop's file system by the executors, hidden files and markers left
    out, a README skipped and listed, rejects named by file and line."""
    logs = _logs(tmp_path / "logs")
    events = EventsParams(max_reject_ratio=1.0)
    out = OutputParams(db="none")
    local = run(logs, out=tmp_path / "local", events=events, output=out)
    assert local.rejected > 0 and local.recommendations > 0  # the comparison is not vacuous
    run(f"file://{logs}/", out=tmp_path / "spark", engine="spark", events=events, output=out)
    _check_same(tmp_path / "local", tmp_path / "spark", logs, f"file:{logs}")
    names = [
        f["file"] for f in json.loads((tmp_path / "spark" / "summary.json").read_text())["files"]
    ]
    assert f"file:{logs}/{ODD_NAME}" in names and f"file:{logs}/README" in names
    assert not any(n.endswith(("_SUCCESS", ".crc")) for n in names)


def test_another_file_system_and_a_pattern(spark_session: Any, tmp_path: Path) -> None:
    """A URI of a file system other than the local one (Hadoop's ``viewfs``, a mount table
    here over a local folder, so no server is needed) with a glob: the matches are read and
    named by their ``viewfs://`` URIs."""
    logs = _logs(tmp_path / "logs")
    conf = spark_session.sparkContext._jsc.hadoopConfiguration()
    name = f"logs{uuid.uuid4().hex[:12]}"  # never reused: Hadoop caches a file system per name
    conf.set(f"fs.viewfs.mounttable.{name}.link./logs", f"file://{logs}")
    pattern = f"viewfs://{name}/logs/sub/*.csv"
    events = EventsParams(max_reject_ratio=1.0)
    out = OutputParams(db="none")
    chosen = sorted((logs / "sub").glob("*.csv"))
    assert len(chosen) >= 2
    run(chosen, out=tmp_path / "local", events=events, output=out)
    run(pattern, out=tmp_path / "spark", engine="spark", events=events, output=out)
    _check_same(tmp_path / "local", tmp_path / "spark", logs, f"viewfs://{name}/logs")


@pytest.mark.parametrize(
    "name",
    [
        "quote_unterminated.csv",
        "utf16.csv",
        "corrupt.parquet",
        "truncated.csv.gz",
        "parquet.csv.gz",
        "notes.md",
        "milliseconds_all.csv",
    ],
)
def test_a_bad_file_is_the_local_one_line_error_naming_the_uri(
    spark_session: object, tmp_path: Path, name: str
) -> None:
    """A file named by URI that cannot be read fails with the local reader's reason and line,
    naming the file as Hadoop lists it; nothing is published."""
    shutil.copy(HOSTILE / name, tmp_path / name)
    with pytest.raises(ShopscaleError) as info:
        run(f"file://{tmp_path}/{name}", out=tmp_path / "out", engine="spark")
    assert str(info.value) == f"file:{tmp_path}/{name}{ERRORS[name]}"
    assert not (tmp_path / "out" / "current").exists()


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("file:///nowhere/shopscale-logs/", "no such file or folder"),
        ("file:///nowhere/shopscale-logs/*.csv", "no file matches this pattern"),
        ("nosuchfs://bucket/logs/", "cannot list: No FileSystem for scheme"),
    ],
)
def test_uris_that_name_nothing_fail_in_one_line(
    spark_session: object, tmp_path: Path, spec: str, reason: str
) -> None:
    """A URI that names no file, or a file system Spark cannot reach, is one line naming it."""
    with pytest.raises(ShopscaleError) as info:
        run(spec, out=tmp_path / "out", engine="spark")
    assert str(info.value).startswith(f"{spec}: {reason}")
    assert "\n" not in str(info.value)
