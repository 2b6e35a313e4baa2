"""The pipeline: outputs appear whole or not at all, and the database matches the files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shopscale.config import make_params
from shopscale.engine.base import STATISTICS
from shopscale.errors import ConfigError, ShopscaleError
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, RunSummary, _write_summary, run
from shopscale.store.files import write_json
from shopscale.store.sql import read_recommendations
from shopscale.store.versions import VersionedFolder
from tests.store.results import leftovers, read_results
from tests.strategies import write_events_csv

EVENTS = [
    ("u1", "viewed", "a", 1),
    ("u1", "purchased", "a", 2),
    ("u1", "viewed", "b", 3),
    ("u2", "viewed", "a", 4),
    ("u2", "purchased", "b", 5),
    ("u3", "carted", "b", 6),
    ("u3", "purchased", "a", 7),
    ("u4", "viewed", "c", 8),
]


def test_failed_run_leaves_earlier_outputs_intact(tmp_path: Path) -> None:
    """A run whose database cannot be reached fails and leaves the previous run's files."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    out = tmp_path / "out"
    run(src, out=out)
    before = read_results(out)
    bad_db = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    with pytest.raises(ShopscaleError, match="cannot connect to PostgreSQL"):
        run(src, out=out, params=RecommendParams(n=1), output=OutputParams(db=bad_db))
    assert read_results(out) == before
    assert leftovers(out) == []


def test_failed_run_mid_job_publishes_nothing(tmp_path: Path) -> None:
    """A run failing while it writes (its database is a file that is not SQLite) leaves every
    documented path as the previous run left it, and no staging folder."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    out = tmp_path / "out"
    run(src, out=out)
    before = read_results(out)
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database" * 100)
    with pytest.raises(ShopscaleError, match=r"junk\.sqlite"):
        run(src, out=out, params=RecommendParams(n=1), output=OutputParams(db=f"sqlite:///{junk}"))
    assert read_results(out) == before and leftovers(out) == []


def test_every_output_is_published_in_one_version(tmp_path: Path) -> None:
    """All five outputs and the model state sit in the published version and are read
    through OUT/<name>."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    out = tmp_path / "out"
    summary = run(src, out=out, output=OutputParams(db="sqlite"))
    version = VersionedFolder(out).current()
    assert version is not None
    names = {"recommendations.parquet", "similar_items.parquet", "shopscale.sqlite"}
    names |= {"rejects.csv", "summary.json", "model"}
    assert {p.name for p in version.iterdir()} == names
    for name in names:
        assert (out / name).resolve() == version / name
    assert summary.outputs["db"] == f"sqlite:///{out / 'shopscale.sqlite'}"


def test_outputs_have_statistics_on_the_columns_readers_filter_by(tmp_path: Path) -> None:
    """Each Parquet output has min/max statistics on its key columns (``STATISTICS``) and
    none on the rest, and a filter on a key column reads the right rows."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    out = tmp_path / "out"
    run(src, out=out)
    for name, keys in STATISTICS.items():
        meta = pq.ParquetFile(out / f"{name}.parquet").metadata
        assert meta.num_rows > 0
        group = meta.row_group(0)
        with_stats = {
            group.column(k).path_in_schema
            for k in range(group.num_columns)
            if group.column(k).is_stats_set
        }
        assert with_stats == set(keys), name
    rows = pq.read_table(out / "similar_items.parquet", filters=[("item_id", "=", "a")])
    assert rows.num_rows > 0 and set(rows.column("item_id").to_pylist()) == {"a"}


def test_reject_budget_failure_keeps_rejects_outside_the_result(tmp_path: Path) -> None:
    """Over the reject budget, rejects.csv goes to OUT/last-failed/ (named in the error) and
    the published result stays; the next good run removes it."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    out = tmp_path / "out"
    run(src, out=out)
    before = read_results(out)
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,action,item_id,timestamp\nu1,viewed,a,1700000001\nu2,,b,1700000002\n")
    with pytest.raises(ShopscaleError, match=r"1 of 2 rows rejected.*last-failed/rejects.csv"):
        run(bad, out=out)
    assert (out / "last-failed" / "rejects.csv").read_text().count("\n") == 2
    assert read_results(out) == before and leftovers(out) == []
    run(src, out=out)
    assert not (out / "last-failed").exists()


def test_bad_database_folder_fails_before_reading(tmp_path: Path) -> None:
    """A SQLite URL in a missing folder is a ConfigError before the input is read."""
    src = tmp_path / "events.csv"
    src.write_text("not even a header")
    with pytest.raises(ConfigError, match="does not exist"):
        run(src, out=tmp_path / "out", output=OutputParams(db="sqlite:///nowhere/x.sqlite"))
    assert not (tmp_path / "out").exists()


def test_non_finite_summary_fails_loudly(tmp_path: Path) -> None:
    """A NaN anywhere in summary.json stops the write with its key; nothing is written."""
    summary = RunSummary(model={"self_weight": float("nan")})
    with pytest.raises(ShopscaleError, match=r"model.self_weight = nan is not a finite number"):
        _write_summary(tmp_path / "summary.json", summary)
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json(tmp_path / "x.json", {"x": float("inf")})
    assert list(tmp_path.iterdir()) == []


def test_sqlite_holds_what_the_files_hold(tmp_path: Path) -> None:
    """The SQLite export has, for every user, exactly the rows of the Parquet file."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    output = OutputParams(db="sqlite")
    summary = run(src, out=tmp_path / "out", params=RecommendParams(n=2), output=output)
    rows = pq.read_table(tmp_path / "out" / "recommendations.parquet").to_pylist()
    for user in ("u1", "u2", "u3", "u4"):
        assert read_recommendations(summary.outputs["db"], user) == [
            r for r in rows if r["user_id"] == user
        ]


def test_unknown_primary_action_is_a_clear_error(tmp_path: Path) -> None:
    """A primary action that never occurs names itself and the actions seen."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    with pytest.raises(ShopscaleError, match=r"'bought' does not occur.*carted, purchased, viewed"):
        run(src, out=tmp_path / "out", params=RecommendParams(primary="bought"))


def test_own_carted_item_comes_first(tmp_path: Path) -> None:
    """A carted, unbought item that others bought after carting is a model pick, not backfill."""
    events = [(f"b{k}", a, "x", k) for k in range(5) for a in ("carted", "purchased")]
    events += [(f"b{k}", "purchased", "y", 10 + k) for k in range(5)]
    events += [("u", "viewed", "y", 30), ("u", "carted", "x", 31)]
    src = tmp_path / "events.csv"
    write_events_csv(src, events)
    run(src, out=tmp_path / "out", params=RecommendParams(n=2), output=OutputParams(db="none"))
    rows = pq.read_table(tmp_path / "out" / "recommendations.parquet").to_pylist()
    mine = [(r["item_id"], r["source"]) for r in rows if r["user_id"] == "u"]
    assert mine[0] == ("x", "model")
    run(
        src,
        out=tmp_path / "cco",
        params=RecommendParams(n=2, self_weight=0.0),
        output=OutputParams(db="none"),
    )
    rows = pq.read_table(tmp_path / "cco" / "recommendations.parquet").to_pylist()
    assert ("x", "backfill") in [(r["item_id"], r["source"]) for r in rows if r["user_id"] == "u"]


def test_time_decay_needs_real_timestamps(tmp_path: Path) -> None:
    """Without a timestamp column, times are file order: time and sequence decay are off, so
    a half-life gives the very scores of no decay; with timestamps both are applied."""
    untimed = tmp_path / "untimed.csv"
    untimed.write_text(
        "user_id,action,item_id\n" + "".join(f"{u},{a},{i}\n" for u, a, i, _ in EVENTS)
    )
    tables = {}
    for name, half_life in (("decay", 1e-6), ("off", 0.0)):
        params = RecommendParams(n=3, half_life_days=half_life)
        summary = run(untimed, out=tmp_path / name, params=params, output=OutputParams(db="none"))
        assert summary.half_life_days is None
        assert summary.half_life_events is None
        tables[name] = pq.read_table(tmp_path / name / "recommendations.parquet")
    assert tables["decay"].equals(tables["off"])
    timed = tmp_path / "timed.csv"
    write_events_csv(timed, EVENTS)
    summary = run(timed, out=tmp_path / "timed", output=OutputParams(db="none"))
    assert summary.half_life_days == RecommendParams().half_life_days == 30.0
    assert summary.half_life_events == RecommendParams().half_life_events == 20.0
    scores = pq.read_table(tmp_path / "timed" / "recommendations.parquet").column("score")
    assert scores.to_pylist() != tables["off"].column("score").to_pylist()


def test_summary_model_reproduces_the_run(tmp_path: Path) -> None:
    """summary.json's ``model``, read back as a ``[recommend]`` section, gives the same lists."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    params = RecommendParams(n=3, vote="conditional", weights={"viewed": 0.5})
    run(src, out=tmp_path / "first", params=params, output=OutputParams(db="none"))
    model = json.loads((tmp_path / "first" / "summary.json").read_text())["model"]
    assert (model["vote"], model["weights"], model["n"]) == ("conditional", {"viewed": 0.5}, 3)
    again = make_params(RecommendParams, model, source="summary.json", section="recommend")
    assert again == params
    run(src, out=tmp_path / "again", params=again, output=OutputParams(db="none"))
    first = pq.read_table(tmp_path / "first" / "recommendations.parquet")
    assert first.equals(pq.read_table(tmp_path / "again" / "recommendations.parquet"))


def test_default_outputs_are_the_files_and_the_model(tmp_path: Path) -> None:
    """Without --db, a run publishes the files and the model state and no database."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    summary = run(src, out=tmp_path / "out")
    version = VersionedFolder(tmp_path / "out").current()
    assert version is not None
    assert {p.name for p in version.iterdir()} == {
        "recommendations.parquet",
        "similar_items.parquet",
        "rejects.csv",
        "summary.json",
        "model",
    }
    assert "db" not in summary.outputs


def test_repeats_reorder_own_items_and_leave_every_other_score(tmp_path: Path) -> None:
    """u0 viewed "b" three times and "a" once (same conversion rates, no decay): counted, b's
    own engagement weighs three times a's and b leads; once, they tie and "a" (id order)
    leads. Every item u0 never touched scores the same either way."""
    events = [
        ("u0", "viewed", "b", 1), ("u0", "viewed", "b", 1), ("u0", "viewed", "b", 1),
        ("u0", "viewed", "a", 1),
        ("u1", "viewed", "a", 1), ("u1", "purchased", "a", 1), ("u1", "purchased", "c", 1),
        ("u2", "viewed", "b", 1), ("u2", "purchased", "b", 1), ("u2", "purchased", "c", 1),
        ("u3", "viewed", "a", 1), ("u3", "viewed", "b", 1), ("u3", "purchased", "d", 1),
    ]  # fmt: skip
    write_events_csv(tmp_path / "e.csv", events)
    lists = {}
    for repeats in ("once", "count"):
        params = RecommendParams(repeats=repeats, half_life_days=0, half_life_events=0, n=4)
        out = tmp_path / repeats
        run(tmp_path / "e.csv", out=out, params=params, output=OutputParams(db="none"))
        rows = pq.read_table(out / "recommendations.parquet").to_pylist()
        lists[repeats] = [(r["item_id"], r["score"]) for r in rows if r["user_id"] == "u0"]
    once, count = dict(lists["once"]), dict(lists["count"])
    assert [i for i, _ in lists["once"]][:2] == ["a", "b"] and once["a"] == once["b"]
    assert [i for i, _ in lists["count"]][:2] == ["b", "a"] and count["a"] == once["a"]
    assert count["b"] > 2.9 * once["b"]
    untouched = set(once) - {"a", "b"}
    assert untouched and {i: count[i] for i in untouched} == {i: once[i] for i in untouched}
