"""The server is exact: a model of a log's first part, served, with the later parts posted
and one fold, answers every user with the batch job's list on the whole log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run
from shopscale.serve.app import create_app
from shopscale.serve.service import ServeConfig, Service
from tests.serve.conftest import (
    Event,
    Server,
    as_json,
    batch_lists,
    free_port,
    same_lists,
    served_list,
    write_log,
)
from tests.strategies import recommend_params, split_logs

params_strategy = recommend_params(
    similarity=st.sampled_from(["llr", "llr", "llr", "cosine", "lift"]),
    max_items_per_user=st.integers(1, 3),
    half_life_days=st.sampled_from([None, 0.0001, 0.0003]),
    half_life_events=st.sampled_from([None, 1.0, 2.5]),
    users_per_shard=st.just(RecommendParams().users_per_shard),
    self_prior=st.just(RecommendParams().self_prior),
    unprompted_weight=st.sampled_from([0.0, 1e5]),
)


@contextmanager
def in_process(model_dir: Path) -> Iterator[httpx.Client]:
    """The app under a real uvicorn server on a free port, in a thread of this process."""
    service = Service(ServeConfig(model_dir=model_dir, fold_every_s=0))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise AssertionError("server thread ended before it started")
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def batch(tmp: Path, parts: list[list[Event]], params: RecommendParams, *, timed: bool) -> Path:
    """``recommend`` on the parts as separate files, in order; its results folder."""
    files = [write_log(tmp / f"part{k}.csv", p, timed=timed) for k, p in enumerate(parts)]
    out = tmp / f"batch{len(parts)}"
    run(files, out=out, params=params, output=OutputParams(db="none"))
    return out


def check_served(client: httpx.Client, parts: list[list[Event]], want: Path, *, timed: bool):
    """Post the increments (one request each), fold once, compare every user's list."""
    for part in parts[1:]:
        r = client.post("/events", json=[as_json(e, timed=timed) for e in part])
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == len(part)
    assert client.post("/admin/fold").json()["folded"] == sum(len(p) for p in parts[1:])
    for user, lists in batch_lists(want).items():
        got = served_list(client, user)
        assert same_lists(got, lists), (user, got, lists)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=split_logs(), params=params_strategy, timed=st.sampled_from([True, True, False]))
@example(  # u0's purchase of i1 leaves a one-item window in the fold yet stays excluded
    parts=[
        [("u0", "purchased", "i1", 1), ("u1", "viewed", "i2", 2), ("u1", "purchased", "i1", 3)],
        [("u0", "purchased", "i2", 5), ("u2", "viewed", "i3", 6)],
    ],
    params=RecommendParams(similarity="count", max_items_per_user=1),
    timed=True,
)
def test_served_lists_equal_batch_lists(
    tmp_path_factory: pytest.TempPathFactory,
    parts: list[list[Event]],
    params: RecommendParams,
    timed: bool,
) -> None:
    """recommend(first part), served, increments posted and folded: every user's list equals
    recommend on all parts (items, order, source, scores to 1e-9)."""
    tmp = tmp_path_factory.mktemp("exact")
    first = batch(tmp, parts[:1], params, timed=timed)
    want = batch(tmp, parts, params, timed=timed)
    with in_process(first) as client:
        check_served(client, parts, want, timed=timed)


def test_subprocess_server_equals_batch(tmp_path: Path) -> None:
    """The same holds for a real ``shopscale serve`` process, with downsampling, new users
    and items in the increment, and both decays on."""
    parts: list[list[Event]] = [
        [
            ("u0", "viewed", "i1", 1),
            ("u0", "purchased", "i1", 2),
            ("u1", "viewed", "i1", 3),
            ("u1", "purchased", "i2", 4),
            ("u2", "carted", "i2", 5),
            ("u2", "purchased", "i1", 6),
        ],
        [
            ("u0", "purchased", "i3", 7),
            ("u3", "viewed", "i1", 8),
            ("u3", "purchased", "i2", 9),
            ("u1", "carted", "i0", 10),
            ("u0", "purchased", "i2", 11),
        ],
    ]
    params = RecommendParams(max_items_per_user=1, half_life_days=0.0001, half_life_events=1.0)
    first = batch(tmp_path, parts[:1], params, timed=True)
    want = batch(tmp_path, parts, params, timed=True)
    server = Server(first, "--fold-every", "0")
    try:
        check_served(server.client, parts, want, timed=True)
    finally:
        server.stop()
