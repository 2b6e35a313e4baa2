"""Explanations of real batch runs and updates: the terms of every listed item add up to its
score, bit for bit, and the scores the terms give every candidate rank into exactly the
published list."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopscale.cli._explain import explain_rows
from shopscale.recommend.explain import (
    KINDS,
    Model,
    candidate_terms,
    explain,
    history_weights,
    total,
    user_rows,
)
from shopscale.recommend.model import read_state
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run
from shopscale.recommend.ranking import reference_top_n
from shopscale.recommend.update import update
from shopscale.serve.served import build_indicators
from tests.strategies import (
    Event,
    event_logs,
    logs_with_addon,
    recommend_params,
    split_logs,
    write_events_csv,
)

Lists = dict[str, list[tuple[str, float, str]]]

decayed_params = recommend_params(
    n=st.integers(1, 6),
    half_life_days=st.sampled_from([0.0001, 0.0005]),  # 8.6 s, 43 s: times span 0-50 s
    half_life_events=st.sampled_from([1.0, 2.5]),
    similarity=st.sampled_from(["llr", "llr", "llr", "cosine"]),
)


def _batch(tmp: Path, events: list[Event], params: RecommendParams) -> tuple[Path, Lists]:
    """Run the job; its results folder and every user's list (item, score, source)."""
    write_events_csv(tmp / "events.csv", events)
    out = tmp / "out"
    run(tmp / "events.csv", out=out, params=params, output=OutputParams(db="none"))
    lists: Lists = {}
    for row in pq.read_table(out / "recommendations.parquet").to_pylist():
        lists.setdefault(row["user_id"], []).append((row["item_id"], row["score"], row["source"]))
    return out, lists


def _excluded(events: list[Event], params: RecommendParams) -> dict[str, set[str]]:
    """Per user, the items no list may show, from every event (``exclude`` setting)."""
    out: dict[str, set[str]] = defaultdict(set)
    for u, a, i, _ in events:
        if params.exclude == "any" or (params.exclude == "primary" and a == params.primary):
            out[u].add(i)
    return out


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=st.one_of(event_logs(), logs_with_addon()), params=decayed_params)
def test_terms_add_up_to_every_listed_score(tmp_path_factory, events, params) -> None:  # type: ignore[no-untyped-def]
    """With time and sequence decay on, every listed item's terms added in order are its
    published score exactly, and the candidates' term sums rank into the published list."""
    out, lists = _batch(tmp_path_factory.mktemp("explain"), events, params)
    state = read_state(out / "model").in_string_order()
    assert state.params.half_life_days and state.params.half_life_events  # decays applied
    ind = build_indicators(state)
    items = state.items.to_pylist()
    model = Model(ind.votes, ind.prior, items, state.channels, state.params)
    code = {item: k for k, item in enumerate(items)}
    excluded = _excluded(events, params)
    for user in state.users.to_pylist():
        h_idx, h_val = history_weights(user_rows(state, user), state.actions, model, state.t_ref)
        listed = lists.get(user, [])
        got = explain(model, h_idx, h_val, [(code[i], src) for i, _, src in listed])
        assert [(e.item_id, e.source) for e in got] == [(i, src) for i, _, src in listed]
        for e, (_, score, _) in zip(got, listed, strict=True):
            values = [t.value for t in e.terms]
            assert e.score == score == _in_order(values)
            assert math.isclose(math.fsum(values), score, rel_tol=1e-12, abs_tol=0.0)
            if e.source == "model":
                assert math.isclose(sum(t.share for t in e.terms), 1.0, rel_tol=1e-9)
                _check_reason(e.reason, e.tier_score, e.terms, params)
            else:
                assert (e.terms, e.reason) == ((), "backfill")
        scores = {i: total(terms) for i, terms in candidate_terms(model, h_idx, h_val).items()}
        ranked = reference_top_n(
            scores,
            {code[i] for i in excluded[user]},
            ind.popular.tolist(),
            params.n,
            params.backfill,
        )
        assert [(items[i], s, src) for i, s, src in ranked] == listed


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=split_logs(), params=decayed_params)
def test_updated_models_explain_their_lists(tmp_path_factory, parts, params) -> None:  # type: ignore[no-untyped-def]
    """After recommend on a first part and update with each later one (decays on), the
    folder's model explains every listed score exactly, as ``show --explain`` reads it."""
    tmp = tmp_path_factory.mktemp("explain-update")
    files = [tmp / f"part{k}.csv" for k in range(len(parts))]
    for path, part in zip(files, parts, strict=True):
        write_events_csv(path, part)
    run(files[0], out=tmp / "v0", params=params, output=OutputParams(db="none"))
    for k, path in enumerate(files[1:], start=1):
        update(tmp / f"v{k - 1}", [path], out=tmp / f"v{k}")
    last = tmp / f"v{len(files) - 1}"
    rows = pq.read_table(last / "recommendations.parquet").to_pylist()
    by_user: dict[str, list[tuple[object, ...]]] = defaultdict(list)
    for row in rows:
        by_user[row["user_id"]].append(tuple(row.values()))
    for user, mine in by_user.items():
        got = explain_rows(last, user, mine)
        assert [(e.item_id, e.score, e.source) for e in got] == [(r[2], r[3], r[4]) for r in mine]
        assert all(_in_order([t.value for t in e.terms]) == e.score for e in got)


def _in_order(values: list[float]) -> float:
    """The values added one by one from 0 (how the rank kernel's accumulator adds them)."""
    acc = 0.0
    for v in values:
        acc += v
    return acc


def _check_reason(reason, tier_score, terms, params) -> None:  # type: ignore[no-untyped-def]
    """The reason is the kind of the largest part; the tier score is that part in its unit."""
    parts = {kind: sum(t.value for t in terms if t.kind == kind) for kind in KINDS}
    assert parts[reason] == max(parts.values()) > 0
    scale = {"own": params.self_weight, "prior": params.unprompted_weight, "similar": 1.0}
    assert math.isclose(tier_score * scale[reason], parts[reason], rel_tol=1e-12)


def test_own_engagement_and_votes_are_labelled_with_their_history_item(tmp_path: Path) -> None:
    """An item the user carted is explained by their own carting first; an item bought by
    those who bought what the user viewed is explained by that viewed item's vote."""
    events: list[Event] = [
        (f"b{k}", a, i, t)
        for k in range(6)
        for a, i, t in (("viewed", "shoe", 1), ("viewed", "sock", 2), ("purchased", "sock", 3))
    ] + [("me", "carted", "hat", 5), ("me", "viewed", "shoe", 6), ("c0", "carted", "hat", 1)]
    events.append(("c0", "purchased", "hat", 2))
    params = RecommendParams(n=3, half_life_days=1.0, half_life_events=20.0)
    out, lists = _batch(tmp_path, events, params)
    state = read_state(out / "model").in_string_order()
    ind = build_indicators(state)
    items = state.items.to_pylist()
    model = Model(ind.votes, ind.prior, items, state.channels, state.params)
    h_idx, h_val = history_weights(user_rows(state, "me"), state.actions, model, state.t_ref)
    got = explain(model, h_idx, h_val, [(items.index(i), src) for i, _, src in lists["me"]])
    by_item = {e.item_id: e for e in got}
    hat, sock = by_item["hat"], by_item["sock"]
    assert (hat.reason, next((t.kind, t.action, t.item_id) for t in hat.terms)) == (
        "own",
        ("own", "carted", "hat"),
    )
    assert sock.reason == "similar"
    assert ("similar", "viewed", "shoe") in [(t.kind, t.action, t.item_id) for t in sock.terms]
    assert np.isclose(hat.tier_score, hat.score / 1e6)
