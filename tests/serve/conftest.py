"""Serve fixtures: a real ``shopscale serve`` subprocess on a free loopback port, and a
small model built by the real batch job."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run

SRC = Path(__file__).resolve().parents[2] / "src"
Event = tuple[str, str, str, int]
Lists = dict[str, list[tuple[str, float, str]]]


T0 = 1_700_000_000
"""Epoch seconds of time 0 in the test logs (a plausible time; decay sees differences only)."""


def write_log(path: Path, events: list[Event], *, timed: bool = True) -> Path:
    """Events as a CSV with a header; times are seconds after ``T0`` (untimed: no column)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("user_id,action,item_id" + (",timestamp\n" if timed else "\n"))
        for u, a, i, t in events:
            fh.write(f"{u},{a},{i}" + (f",{T0 + t}\n" if timed else "\n"))
    return path


def as_json(event: Event, *, timed: bool = True) -> dict[str, object]:
    """An event as POST /events takes it (time ``T0 + t``)."""
    u, a, i, t = event
    body: dict[str, object] = {"user_id": u, "action": a, "item_id": i}
    if timed:
        body["timestamp"] = T0 + t
    return body


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_model(folder: Path, events: list[Event], params: RecommendParams) -> Path:
    """``recommend`` on the events into ``folder/recs`` (the results folder a server serves)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_log(folder / "events.csv", events)
    run(folder / "events.csv", out=folder / "recs", params=params, output=OutputParams(db="none"))
    return folder / "recs"


def batch_lists(results: Path) -> Lists:
    """Every user's list of a batch results folder: (item, score, source) in rank order."""
    out: Lists = {}
    for row in pq.read_table(results / "recommendations.parquet").to_pylist():
        out.setdefault(row["user_id"], []).append((row["item_id"], row["score"], row["source"]))
    return out


def served_list(client: httpx.Client, user: str, **query: object) -> list[tuple[str, float, str]]:
    """A user's list as the server answers it."""
    r = client.get(f"/users/{user}/recommendations", params=query)
    assert r.status_code == 200, r.text
    return [(e["item_id"], e["score"], e["source"]) for e in r.json()["items"]]


def same_lists(got: list[tuple[str, float, str]], want: list[tuple[str, float, str]]) -> bool:
    """Same items in the same order with the same sources, scores equal to 1e-9 (relative)."""
    return len(got) == len(want) and all(
        g[0] == w[0] and g[2] == w[2] and abs(g[1] - w[1]) <= 1e-9 * max(1.0, abs(w[1]))
        for g, w in zip(got, want, strict=True)
    )


class Server:
    """``shopscale serve`` in a subprocess (this checkout's code) on a free port."""

    def __init__(self, model_dir: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(SRC)}
        env["SHOPSCALE_LOG_DIR"] = str(model_dir.parent / "logs")
        self.log = (model_dir.parent / f"serve-{self.port}.log").open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shopscale",
                "serve",
                str(model_dir),
                "--port",
                str(self.port),
                *args,
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.url, timeout=120)
        self._wait()

    def _wait(self) -> None:
        """Until /health answers (the server has loaded the model and replayed the log)."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.output()}")
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"server did not answer: {self.output()}")

    def output(self) -> str:
        """What the server printed."""
        self.log.flush()
        return Path(self.log.name).read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.close()

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.close()

    def close(self) -> None:
        self.client.close()
        self.log.close()


EVENTS: list[Event] = [
    (u, a, i, t)
    for k in range(12)
    for (u, a, i, t) in (
        (f"u{k:02d}", "viewed", "shoe", 100 + k),
        (f"u{k:02d}", "viewed", "sock" if k % 2 else "lace", 101 + k),
        (f"u{k:02d}", "carted", "sock" if k % 3 else "shoe", 102 + k),
        (f"u{k:02d}", "purchased", "sock" if k % 2 else "lace", 103 + k),
        (f"u{k:02d}", "purchased", "shoe" if k % 4 else "hat", 104 + k),
    )
] + [("u99", "viewed", "belt", 90), ("u98", "purchased", "belt", 91)]
"""A small shop: shoes, socks, laces, a hat and a belt, 14 users."""


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A results folder built by ``recommend`` on ``EVENTS`` (no decay, no prior)."""
    params = RecommendParams(half_life_days=None, half_life_events=None, n=5, unprompted_weight=0)
    return build_model(tmp_path / "shop", EVENTS, params)


@pytest.fixture
def server(model: Path) -> Iterator[Server]:
    """A server over ``model`` with an item catalogue and no background folds."""
    items = model.parent / "items.csv"
    items.write_text(
        "item_id,category,in_stock\nshoe,shoes,true\nsock,socks,true\nlace,shoes,true\n"
        "hat,hats,true\nbelt,belts,false\n",
        encoding="utf-8",
    )
    srv = Server(model, "--fold-every", "0", "--items", str(items))
    yield srv
    srv.stop()
