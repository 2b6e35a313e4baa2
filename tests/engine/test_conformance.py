"""Every engine gives the answer of the slow reference model on small random logs."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run
from tests.helpers import downsample, reference_model
from tests.strategies import event_logs, logs_with_addon, write_events_csv

ENGINES = ["local"]


def _run(tmp: Path, events, params: RecommendParams, engine: str):  # type: ignore[no-untyped-def]
    """Run the job on ``events``; return recommendations and similar items as plain dicts."""
    src = tmp / "events.csv"
    write_events_csv(src, events)
    run(src, out=tmp / "out", engine=engine, params=params, output=OutputParams(db="none"))
    recs: dict[str, list[tuple[str, float, str]]] = {}
    for row in pq.read_table(tmp / "out" / "recommendations.parquet").to_pylist():
        recs.setdefault(row["user_id"], []).append((row["item_id"], row["score"], row["source"]))
    sims: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for row in pq.read_table(tmp / "out" / "similar_items.parquet").to_pylist():
        sims.setdefault((row["item_id"], row["action"]), []).append(
            (row["similar_item_id"], row["score"])
        )
    return recs, sims


params_strategy = st.builds(
    RecommendParams,
    max_items_per_user=st.integers(1, 6),
    max_similar_per_item=st.integers(1, 4),
    n=st.integers(1, 5),
    half_life_days=st.sampled_from([None, 0.0, 0.0001]),
    half_life_events=st.sampled_from([None, 0.0, 1.0, 2.5]),
    exclude=st.sampled_from(["primary", "any", "none"]),
    weights=st.sampled_from([{}, {"viewed": 0.5, "carted": 2.0}]),
    users_per_shard=st.integers(1, 3),
    self_weight=st.sampled_from([0.0, 1e6, 2.5]),
    self_prior=st.sampled_from([0.0, 3.0, 100.0]),
    vote=st.sampled_from(["llr", "geometric", "conditional"]),
    unprompted_weight=st.sampled_from([0.0, 2.5, 1e5]),
)


@pytest.mark.parametrize("engine", ENGINES)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=st.one_of(event_logs(), logs_with_addon()), params=params_strategy)
def test_engine_matches_reference(
    tmp_path_factory, engine: str, events, params: RecommendParams
) -> None:  # type: ignore[no-untyped-def]
    """Recommendations and similar items equal the reference model's, ranks and ties included."""
    tmp = tmp_path_factory.mktemp("conf")
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


@pytest.mark.parametrize("engine", ENGINES)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=event_logs(), n=st.integers(1, 6), keep=st.sampled_from([1, 2, 500]))
@example(  # u0's purchase of i1 is older than the one item downsampling keeps
    events=[
        ("u0", "purchased", "i1", 5),
        ("u0", "purchased", "i2", 10),
        ("u1", "purchased", "i1", 3),
    ],
    n=3,
    keep=1,
)
def test_lists_are_full_gapless_and_unpurchased(
    tmp_path_factory, engine: str, events, n: int, keep: int
) -> None:  # type: ignore[no-untyped-def]
    """Every user gets min(n, items not purchased) items, ranks 1..len, none already purchased,
    also when downsampling (``keep`` items per user and action) forgets older purchases."""
    tmp = tmp_path_factory.mktemp("prop")
    src = tmp / "events.csv"
    write_events_csv(src, events)
    run(
        src,
        out=tmp / "out",
        engine=engine,
        params=RecommendParams(n=n, max_items_per_user=keep),
        output=OutputParams(db="none"),
    )
    table = pq.read_table(tmp / "out" / "recommendations.parquet").to_pylist()
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
