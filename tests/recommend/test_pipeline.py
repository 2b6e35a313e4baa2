"""The pipeline: outputs appear whole or not at all, and the database matches the files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shopscale.config import make_params
from shopscale.errors import ShopscaleError
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run
from shopscale.store.sql import read_recommendations
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
    """A run that fails while loading the database leaves the previous run's files unchanged."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    out = tmp_path / "out"
    run(src, out=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad_db = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    with pytest.raises(ShopscaleError):
        run(src, out=out, params=RecommendParams(n=1), output=OutputParams(db=bad_db))
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_sqlite_holds_what_the_files_hold(tmp_path: Path) -> None:
    """The default SQLite database has, for every user, exactly the rows of the Parquet file."""
    src = tmp_path / "events.csv"
    write_events_csv(src, EVENTS)
    summary = run(src, out=tmp_path / "out", params=RecommendParams(n=2))
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
