"""SIGKILL at any moment loses no acknowledged event and folds none twice: after a restart
the log is replayed from the model's checkpoint, and the next fold gives the batch answer."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import httpx

from shopscale.recommend.model import read_state, state_table
from shopscale.recommend.params import RecommendParams
from shopscale.serve.folder import current_version
from shopscale.serve.served import FOLD_FILE
from tests.serve.conftest import (
    EVENTS,
    T0,
    Event,
    Server,
    as_json,
    batch_lists,
    build_model,
    same_lists,
    served_list,
)

ACTIONS = ("viewed", "carted", "purchased")


class Poster(threading.Thread):
    """Posts one new event per request until stopped or the server dies; keeps what was
    acknowledged and the one event in flight when the connection broke."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.acked: list[Event] = []
        self.in_flight: Event | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                event = (f"k{n // 3}", ACTIONS[n % 3], f"i{n % 13}", 1000 + n)
                self.in_flight = event
                try:
                    r = client.post("/events", json=[as_json(event)])
                except httpx.TransportError:
                    return
                assert r.status_code == 200, r.text
                self.acked.append(event)
                self.in_flight = None
                n += 1


def test_sigkill_while_posting_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    """kill -9 while a client posts (folds every half second): after a restart the replayed
    log holds exactly the acknowledged events the model lacks; after one fold the model equals
    the batch job's on the first log plus every acknowledged event (plus at most the one in
    flight), folded log ranges never overlap, and every user's list is the batch list."""
    params = RecommendParams(half_life_days=None, n=4)
    model = build_model(tmp_path / "shop", EVENTS, params)
    server = Server(model, "--fold-every", "0.5")
    poster = Poster(server.url)
    poster.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        len(poster.acked) < 40 or server.client.get("/health").json()["folds"] < 1
    ):
        time.sleep(0.1)
    server.kill()
    poster.join(timeout=60)
    assert len(poster.acked) >= 40

    again = Server(model, "--fold-every", "0")
    try:
        # each posted event is its own history row, the only rows at T0 + 1000 or later
        folded = int((read_state(current_version(model) / "model").history.t >= T0 + 1000).sum())
        unfolded = again.client.get("/health").json()["unfolded_events"]
        assert folded + unfolded in (len(poster.acked), len(poster.acked) + 1)
        assert unfolded > 0, "the kill came between a fold and the next post"
        again.client.post("/admin/fold")
        state = read_state(current_version(model) / "model")
        spans = sorted(
            (int(m["start"]), int(m["end"]))
            for m in (FOLD_FILE.search(str(f["file"])) for f in state.files)
            if m
        )
        assert spans[0][0] == 0
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        candidates = [poster.acked] + (
            [[*poster.acked, poster.in_flight]] if poster.in_flight else []
        )
        matched = None
        for k, posted in enumerate(candidates):
            want = build_model(tmp_path / f"batch{k}", EVENTS + posted, params)
            if state_table(read_state(want / "model")) == state_table(state):
                matched = want
                break
        assert matched is not None, "the model after restart is no batch model"
        for user, lists in batch_lists(matched).items():
            assert same_lists(served_list(again.client, user), lists), user
    finally:
        again.stop()
