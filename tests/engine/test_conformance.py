"""Every engine gives the answer of the slow reference model on small random logs, and the
Spark engine gives the local engine's answer: same rows, ranks, and scores to 1e-9."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shopscale.errors import ShopscaleError
from shopscale.events import EventsParams
from shopscale.recommend.model import read_state, state_table
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run
from shopscale.recommend.update import update
from tests.engine.conftest import EXAMPLES, FEW_EXAMPLES, SPARK_TIMEOUT_S
from tests.helpers import downsample, reference_model
from tests.strategies import T0, event_logs, logs_with_addon, recommend_params, write_events_csv

# every Spark test runs on one worker, one after the other (two JVMs at once starve 2 cores)
pytestmark = pytest.mark.xdist_group("spark")


def read_output(path: Path) -> list[dict[str, object]]:
    """Rows of an output: one Parquet file (local) or a folder of parts (Spark)."""
    return ds.dataset(path, format="parquet").to_table().to_pylist()


def _run(tmp: Path, events, params: RecommendParams, engine: str):  # type: ignore[no-untyped-def]
    """Run the job on ``events``; return recommendations and similar items as plain dicts."""
    src = tmp / "events.csv"
    write_events_csv(src, events)
    run(src, out=tmp / "out", engine=engine, params=params, output=OutputParams(db="none"))
    recs: dict[str, list[tuple[str, float, str]]] = {}
    for row in read_output(tmp / "out" / "recommendations.parquet"):
        recs.setdefault(row["user_id"], []).append((row["item_id"], row["score"], row["source"]))
    sims: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for row in read_output(tmp / "out" / "similar_items.parquet"):
        sims.setdefault((row["item_id"], row["action"]), []).append(
            (row["similar_item_id"], row["score"])
        )
    return recs, sims


params_strategy = recommend_params()


@pytest.mark.timeout(SPARK_TIMEOUT_S)
def test_engine_matches_reference(tmp_path_factory: pytest.TempPathFactory, engine: str) -> None:
    """Recommendations and similar items equal the reference model's, ranks and ties included."""

    @settings(max_examples=EXAMPLES[engine], deadline=None)
    @given(events=st.one_of(event_logs(), logs_with_addon()), params=params_strategy)
    def check(events: list[tuple[str, str, str, int]], params: RecommendParams) -> None:
        _check_reference(tmp_path_factory.mktemp("conf"), events, params, engine)

    check()


def _check_reference(tmp: Path, events, params: RecommendParams, engine: str) -> None:  # type: ignore[no-untyped-def]
    """One example of ``test_engine_matches_reference``."""
    recs, sims = _run(tmp, events, params, engine)
    want_recs, want_sims = reference_model(events, params)
    assert set(sims) == set(want_sims)
    for key, lst in want_sims.items():
        assert [j for j, _ in sims[key]] == [j for j, _ in lst]
        assert [s for _, s in sims[key]] == pytest.approx([s for _, s in lst], rel=1e-12)
    assert set(recs) == {u for u, lst in want_recs.items() if lst}
    for user, lst in want_recs.items():
        got = recs.get(user, [])
        assert [(i, src) for i, _, src in got] == [(i, src) for i, _, src in lst]
        assert [s for _, s, _ in got] == pytest.approx([s for _, s, _ in lst], rel=1e-12)


EXAMPLE_LOG = [  # u0's purchase of i1 is older than the one item downsampling keeps
    ("u0", "purchased", "i1", 5),
    ("u0", "purchased", "i2", 10),
    ("u1", "purchased", "i1", 3),
]


@pytest.mark.timeout(SPARK_TIMEOUT_S)
def test_lists_are_full_gapless_and_unpurchased(
    tmp_path_factory: pytest.TempPathFactory, engine: str
) -> None:
    """Every user gets min(n, items not purchased) items, ranks 1..len, none already purchased,
    also when downsampling (``keep`` items per user and action) forgets older purchases."""

    @settings(max_examples=FEW_EXAMPLES[engine], deadline=None)
    @given(events=event_logs(), n=st.integers(1, 6), keep=st.sampled_from([1, 2, 500]))
    @example(events=EXAMPLE_LOG, n=3, keep=1)
    def check(events: list[tuple[str, str, str, int]], n: int, keep: int) -> None:
        _check_lists(tmp_path_factory.mktemp("prop"), events, n, keep, engine)

    check()


def _check_lists(tmp: Path, events, n: int, keep: int, engine: str) -> None:  # type: ignore[no-untyped-def]
    """One example of ``test_lists_are_full_gapless_and_unpurchased``."""
    src = tmp / "events.csv"
    write_events_csv(src, events)
    run(
        src,
        out=tmp / "out",
        engine=engine,
        params=RecommendParams(n=n, max_items_per_user=keep),
        output=OutputParams(db="none"),
    )
    table = read_output(tmp / "out" / "recommendations.parquet")
    items = {i for kept in downsample(events, keep).values() for i in kept}  # backfill pool
    bought: dict[str, set[str]] = {}
    for u, a, i, _ in events:
        bought.setdefault(u, set())
        if a == "purchased":
            bought[u].add(i)
    for user, purchased in bought.items():
        rows = [r for r in table if r["user_id"] == user]
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        assert len(rows) == min(n, len(items - purchased))
        assert not {r["item_id"] for r in rows} & purchased
        assert len({r["item_id"] for r in rows}) == len(rows)


equal_params = recommend_params(
    similarity=st.sampled_from(["llr", "llr", "llr", "cosine", "jaccard", "count", "lift"]),
    primary=st.sampled_from(["purchased", "purchased", "carted"]),
    indicators=st.sampled_from([(), (), ("purchased", "viewed"), ("carted", "purchased")]),
    half_life_days=st.sampled_from([None, 0.0001, 30.0]),
    half_life_events=st.sampled_from([None, 1.0, 2.5]),
    self_prior=st.just(RecommendParams().self_prior),
    backfill=st.booleans(),
)


def _outputs(folder: Path) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Recommendations and similar items of a result folder, rows in output order."""
    return (
        read_output(folder / "recommendations.parquet"),
        read_output(folder / "similar_items.parquet"),
    )


def _same_rows(got: list[dict[str, object]], want: list[dict[str, object]]) -> None:
    """Same rows in the same order; scores equal to 1e-9 relative."""
    assert [{k: v for k, v in r.items() if k != "score"} for r in got] == [
        {k: v for k, v in r.items() if k != "score"} for r in want
    ]
    assert [r["score"] for r in got] == pytest.approx([r["score"] for r in want], rel=1e-9)


def _both(tmp: Path, src: Path | list[Path], params: RecommendParams) -> list[str]:
    """Run both engines on ``src``; their error messages (empty when both succeeded)."""
    errors = []
    for name in ("local", "spark"):
        try:
            run(src, out=tmp / name, engine=name, params=params, output=OutputParams(db="none"))
        except ShopscaleError as err:
            errors.append(str(err))
    return errors


@pytest.mark.spark
@pytest.mark.timeout(SPARK_TIMEOUT_S)
def test_spark_equals_local(
    spark_session: object, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Over random logs and settings (similarity kinds, primary and indicator choices, decays,
    caps, exclusions), Spark writes the local engine's rows, ranks and scores (1e-9)."""

    @settings(max_examples=EXAMPLES["spark"], deadline=None)
    @given(events=st.one_of(event_logs(), logs_with_addon()), params=equal_params)
    def check(events: list[tuple[str, str, str, int]], params: RecommendParams) -> None:
        check_spark_equals_local(tmp_path_factory.mktemp("eq"), events, params)

    check()


def check_spark_equals_local(
    tmp: Path, events: list[tuple[str, str, str, int]], params: RecommendParams
) -> None:
    """Both engines on ``events``: the same one-line error, or the same lists, similar items
    (rows, ranks, scores to 1e-9) and model state."""
    write_events_csv(tmp / "events.csv", events)
    errors = _both(tmp, tmp / "events.csv", params)
    if errors:  # e.g. a primary action the log lacks: the same one-line error
        assert len(errors) == 2 and errors[0] == errors[1]
        return
    for got, want in zip(_outputs(tmp / "spark"), _outputs(tmp / "local"), strict=True):
        _same_rows(got, want)
    assert state_table(read_state(tmp / "spark" / "model")) == state_table(
        read_state(tmp / "local" / "model")
    )


@pytest.mark.spark
def test_spark_untimed_files_continue_file_order(spark_session: object, tmp_path: Path) -> None:
    """Headerless files without timestamps get the local engine's file-order times across
    files (the second file's rows continue the first's), so both write the same model."""
    (tmp_path / "a.csv").write_text("u1,viewed,i1\nu1,purchased,i2\nu2,viewed,i1\n")
    (tmp_path / "b.csv").write_text("u2,purchased,i2\nu1,viewed,i3\nu3,purchased,i1\n")
    params = RecommendParams(max_items_per_user=1, self_weight=0.0)
    assert _both(tmp_path, [tmp_path / "a.csv", tmp_path / "b.csv"], params) == []
    for got, want in zip(_outputs(tmp_path / "spark"), _outputs(tmp_path / "local"), strict=True):
        _same_rows(got, want)
    assert state_table(read_state(tmp_path / "spark" / "model")) == state_table(
        read_state(tmp_path / "local" / "model")
    )


HOSTILE = (
    "user_id,action,item_id,timestamp\n"
    f"u1,viewed,i1,{T0}\n"
    f"u1,teleported,i2,{T0}\n"  # not an allowed action
    f",purchased,i2,{T0}\n"  # empty user id
    f"u2,purchased,i1,yesterday\n"  # unparsable timestamp
    f"u2,purchased,i2,{T0 + 5}\n"
    f"u3,purchased,i1,{T0 + 9}\n"
)


def test_rejects_name_file_line_and_reason(engine: str, tmp_path: Path) -> None:
    """Bad action, empty id and bad timestamp are rejected with their file and line, and rows
    read = accepted + rejected, on every engine."""
    src = tmp_path / "events.csv"
    src.write_text(HOSTILE, encoding="utf-8")
    events = EventsParams(actions=("viewed", "purchased"), max_reject_ratio=0.9)
    summary = run(
        src, out=tmp_path / "out", engine=engine, events=events, output=OutputParams(db="none")
    )
    assert (summary.rows_read, summary.accepted, summary.rejected) == (6, 3, 3)
    with open(tmp_path / "out" / "rejects.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["file"], int(r["line"])) for r in rows] == [(str(src), n) for n in (3, 4, 5)]
    assert "teleported" in rows[0]["reason"]
    assert "user_id" in rows[1]["reason"]
    assert "yesterday" in rows[2]["reason"] or "timestamp" in rows[2]["reason"]


UPDATE_PARTS = [
    [
        ("u0", "viewed", "i1", 1),
        ("u0", "purchased", "i1", 2),
        ("u1", "viewed", "i1", 3),
        ("u1", "purchased", "i2", 4),
        ("u0", "purchased", "i2", 6),
        ("u2", "carted", "i2", 7),
        ("u2", "carted", "i2", 7),
        ("u0", "viewed", "i3", 3),  # u0's views of i3 leave a one-item window (i2 is newer)
        ("u0", "viewed", "i3", 4),
        ("u0", "viewed", "i2", 5),
    ],
    [
        ("u2", "viewed", "i2", 8),
        ("u2", "purchased", "i1", 9),
        ("u3", "purchased", "i0", 9),
        ("u0", "purchased", "i3", 10),
        ("u0", "viewed", "i3", 11),  # ... and come back with their two events
    ],
]


@pytest.mark.spark
@pytest.mark.parametrize("keep", [1, 500])
def test_update_continues_a_spark_model(spark_session: object, tmp_path: Path, keep: int) -> None:
    """``recommend --engine spark`` then ``update`` (local) writes what ``recommend`` (local)
    writes on every event at once: the Spark model state is complete and exact, its event
    counts and the rows its window dropped included (``repeats`` ranks by them)."""
    files = []
    for k, part in enumerate(UPDATE_PARTS):
        files.append(tmp_path / f"part{k}.csv")
        write_events_csv(files[-1], part)
    params = RecommendParams(max_items_per_user=keep, half_life_days=0.0001, repeats="count")
    no_db = OutputParams(db="none")
    run(files[0], out=tmp_path / "spark", engine="spark", params=params, output=no_db)
    update(tmp_path / "spark", [files[1]], out=tmp_path / "updated")
    run(files, out=tmp_path / "batch", params=params, output=no_db)
    for name in ("similar_items.parquet", "recommendations.parquet"):
        got, want = (
            pq.read_table(tmp_path / "updated" / name),
            pq.read_table(tmp_path / "batch" / name),
        )
        assert got.equals(want), name
    assert state_table(read_state(tmp_path / "updated" / "model")) == state_table(
        read_state(tmp_path / "batch" / "model")
    )
