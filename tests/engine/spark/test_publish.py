"""Outputs published on a Hadoop file system (``--out hdfs://...``): the executors write their
parts there, the driver its small files, and a reader of ``CURRENT`` sees a whole version,
equal to the local engine's output. The file system here is Hadoop's ``viewfs`` over a local
folder (a mount table: a real second file system, with no server to start)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.errors import ConfigError, InputError, ShopscaleError
from shopscale.events import EventsParams
from shopscale.recommend.model import read_state, state_table
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run
from tests.engine.conftest import EXAMPLES, SPARK_TIMEOUT_S
from tests.engine.test_conformance import _outputs, _same_rows, equal_params
from tests.strategies import T0, event_logs, logs_with_addon, write_events_csv

pytestmark = pytest.mark.xdist_group("spark")

EVENTS = [
    (f"u{u}", action, f"i{(u * 7 + k) % 11}", 60 * (u * 5 + k))
    for u in range(30)
    for k, action in enumerate(("viewed", "carted", "viewed", "purchased", "purchased"))
]


def _mount(spark: Any, folder: Path) -> str:
    """A new ``viewfs://<name>/out`` backed by ``folder``; returns the URI. Names are never
    reused: Hadoop caches a file system per name, with the mount table it was made with."""
    name = f"m{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    conf.set(f"fs.viewfs.mounttable.{name}.link./out", folder.as_uri())
    return f"viewfs://{name}/out"


def _current(folder: Path) -> Path:
    """The version ``CURRENT`` names (read once, as a reader does)."""
    vid = (folder / "CURRENT").read_text().strip()
    return folder / ".versions" / vid


def _rejects(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.spark
def test_a_uri_output_is_the_local_output_published_whole(
    spark_session: Any, tmp_path: Path
) -> None:
    """Lists, similar items, model state, rejects and summary equal the local engine's; the
    summary names the version's URIs; a second run publishes a new version and prunes the
    first (keep 1); a killed run's old staging folder is swept, nothing else is left."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    with open(src, "a", encoding="utf-8") as fh:
        fh.write("u1,teleported\n")  # one reject
    backing = tmp_path / "backing"
    uri = _mount(spark_session, backing)
    events = EventsParams(max_reject_ratio=0.5)
    params = RecommendParams(max_items_per_user=3)
    output = OutputParams(db="none", keep_versions=1)
    local = run(src, out=tmp_path / "local", events=events, params=params, output=output)
    assert local.recommendations > 0 and local.rejected == 1
    spark = run(src, out=uri, engine="spark", events=events, params=params, output=output)

    version = _current(backing)
    for got, want in zip(_outputs(version), _outputs(tmp_path / "local"), strict=True):
        _same_rows(got, want)
    assert state_table(read_state(version / "model")) == state_table(
        read_state(tmp_path / "local" / "model")
    )
    assert _rejects(version / "rejects.csv") == _rejects(tmp_path / "local" / "rejects.csv")
    summary = json.loads((version / "summary.json").read_text())
    assert (summary["rows_read"], summary["accepted"], summary["rejected"]) == (
        local.rows_read,
        local.accepted,
        local.rejected,
    )
    assert summary["users_with_model_recs"] == local.users_with_model_recs
    published = f"{uri}/.versions/{version.name}"
    assert spark.outputs["recommendations"] == f"{published}/recommendations.parquet"
    assert summary["outputs"]["model"] == f"{published}/model"

    killed = backing / ".staging-000009-20260101T000000Z"  # a run killed long ago
    killed.mkdir()
    os.utime(killed, (time.time() - 3 * 86400,) * 2)
    run(src, out=uri, engine="spark", events=events, params=params, output=output)
    second = _current(backing)
    assert second != version and second.name.startswith("000002-")
    assert sorted(p.name for p in (backing / ".versions").iterdir()) == [second.name]
    assert sorted(p.name for p in backing.iterdir() if not p.name.endswith(".crc")) == [
        ".versions",
        "CURRENT",
    ]
    for got, want in zip(_outputs(second), _outputs(tmp_path / "local"), strict=True):
        _same_rows(got, want)


@pytest.mark.spark
def test_a_failed_run_leaves_the_published_version(spark_session: Any, tmp_path: Path) -> None:
    """A run that fails (here: too many rejects) publishes nothing and leaves no staging:
    ``CURRENT`` and the versions are as before."""
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    write_events_csv(good, EVENTS)
    bad.write_text(
        "user_id,action,item_id,timestamp\n" + "u1,viewed\n" * 5 + f"u1,viewed,i1,{T0}\n"
    )
    backing = tmp_path / "backing"
    uri = _mount(spark_session, backing)
    output = OutputParams(db="none")
    run(good, out=uri, engine="spark", output=output)
    before = sorted(str(p.relative_to(backing)) for p in backing.rglob("*"))
    with pytest.raises(InputError, match="rejected"):
        run(bad, out=uri, engine="spark", output=output)
    assert sorted(str(p.relative_to(backing)) for p in backing.rglob("*")) == before


@pytest.mark.parametrize(
    ("engine", "output", "error"),
    [
        ("local", OutputParams(db="none"), InputError),
        ("spark", OutputParams(db="sqlite"), ConfigError),
        ("spark", OutputParams(db="none", format="csv"), ConfigError),
    ],
)
def test_what_a_uri_output_cannot_take_is_refused_first(
    tmp_path: Path, engine: str, output: OutputParams, error: type[ShopscaleError]
) -> None:
    """The local engine, a SQL export (it reads the files back) and CSV lists need a folder
    ``--out``: refused in one line before any work."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    with pytest.raises(error) as info:
        run(src, out="hdfs://namenode:8020/shop/model", engine=engine, output=output)
    assert "\n" not in str(info.value)


@pytest.mark.spark
@pytest.mark.timeout(1800)  # a new JVM and Spark session: slow on a busy machine
def test_the_command_publishes_to_a_uri(tmp_path: Path) -> None:
    """``shopscale recommend --engine spark --out viewfs://...`` (the mount given with
    ``--conf``) exits 0, names the published version and skips the local preview."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    backing = tmp_path / "backing"
    backing.mkdir()
    done = subprocess.run(
        [
            sys.executable, "-m", "shopscale", "recommend", str(src), "--engine", "spark",
            "--out", "viewfs://cli/out", "--db", "none",
            "--conf", f"spark.hadoop.fs.viewfs.mounttable.cli.link./out={backing.as_uri()}",
            "--conf", "spark.sql.shuffle.partitions=3",
        ],
        capture_output=True, text=True, env=os.environ.copy(), timeout=1500,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    version = _current(backing)
    assert f"viewfs://cli/out/.versions/{version.name}" in done.stdout.replace("\n", "")
    assert (version / "summary.json").is_file()
    assert "Traceback" not in done.stderr


@pytest.mark.spark
@pytest.mark.timeout(SPARK_TIMEOUT_S)
def test_published_to_a_uri_equals_local(
    spark_session: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Over random logs and settings, the log read by URI (its bytes through Hadoop's file
    system) and the version published on another file system (events kept by Spark instead
    of a scratch folder, every part written by Spark's writer) hold the local engine's rows,
    ranks, scores (1e-9) and model state, or the same one-line error naming the file."""

    @settings(max_examples=EXAMPLES["spark"], deadline=None)
    @given(events=st.one_of(event_logs(), logs_with_addon()), params=equal_params)
    def check(events: list[tuple[str, str, str, int]], params: RecommendParams) -> None:
        tmp = tmp_path_factory.mktemp("pub")
        write_events_csv(tmp / "events.csv", events)
        uri = _mount(spark_session, tmp / "backing")
        src = tmp / "events.csv"
        errors = []
        for engine, log, out in (
            ("local", str(src), str(tmp / "local")),
            ("spark", f"file://{src}", uri),
        ):
            try:
                run(log, out=out, engine=engine, params=params, output=OUTPUT)
            except ShopscaleError as err:  # Hadoop names the file file:/path
                errors.append(str(err).replace(f"file:{src}", str(src)))
        if errors:  # the same one-line error from both
            assert len(errors) == 2 and errors[0] == errors[1]
            return
        version = _current(tmp / "backing")
        for got, want in zip(_outputs(version), _outputs(tmp / "local"), strict=True):
            _same_rows(got, want)
        assert state_table(read_state(version / "model")) == state_table(
            read_state(tmp / "local" / "model")
        )

    check()


OUTPUT = OutputParams(db="none")
