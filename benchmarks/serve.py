"""The recommendation service under a fixed arrival rate: latency, throughput, errors, and the
time from a posted event to its effect.

Generates a log (cached in ``--data-dir``), builds a model with ``shopscale recommend``,
starts ``shopscale serve`` on loopback, and drives it from a SEPARATE process (this script in
``--client`` mode): an open-loop asyncio/httpx client that sends request k at start + k/rate
whatever the answers do (so queueing shows in the latencies, measured from each request's
scheduled time), for ``--duration`` seconds: 90% ``GET /users/{id}/recommendations`` of random
known users, 10% ``POST /events``. Beside the stream, one probe a second buys the top item of a
user's list and polls until the list drops it (the time from a POST to its effect). Prints a
table and writes ``benchmarks/results/serve-<date>T<time>-<events>.json``.

    python benchmarks/serve.py                                # 10M events, 1,000 req/s, 60 s
    python benchmarks/serve.py --events 50000 --rate 200 --duration 10   # smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from shopscale.generate import START_EPOCH_S, GenerateParams, write_events

HERE = Path(__file__).resolve().parent
SHOPSCALE = Path(sys.executable).with_name("shopscale")


def ensure_data(events: int, data_dir: Path) -> Path:
    """Generate the log once per size (seed 42); later runs reuse the cached file."""
    params = GenerateParams(events=events, seed=42)
    name = f"events-{params.events}-{params.n_users}u-{params.n_items}i-seed{params.seed}.csv"
    path = data_dir / name
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        write_events(params, path)
    return path


def build_model(log: Path, out: Path) -> float:
    """``shopscale recommend`` into ``out``; its wall seconds."""
    began = time.perf_counter()
    subprocess.run(
        [str(SHOPSCALE), "recommend", str(log), "--out", str(out), "--db", "none"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - began


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: Path, port: int, fold_every: float, log: Path) -> subprocess.Popen:
    """``shopscale serve`` on loopback; returns once /health answers."""
    import httpx

    proc = subprocess.Popen(
        [str(SHOPSCALE), "serve", str(model), "--port", str(port), "--fold-every", str(fold_every)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.5)
    raise SystemExit(f"server did not answer; see {log}")


# -- the client process -------------------------------------------------------------------
async def drive(url: str, users: list[str], items: list[str], rate: float, duration: float):
    """Open loop at ``rate`` requests/s for ``duration`` s; per request (kind, latency s, ok)."""
    import httpx

    rng = random.Random(42)
    results: list[tuple[str, float, bool]] = []
    t_event = START_EPOCH_S + 10**7  # later than every generated event

    async def one(client: httpx.AsyncClient, due: float, k: int) -> None:
        user = rng.choice(users)
        kind = "post" if rng.random() < 0.1 else "get"
        try:
            if kind == "get":
                r = await client.get(f"/users/{user}/recommendations")
            else:
                event = {
                    "user_id": user,
                    "action": rng.choice(["viewed", "carted"]),
                    "item_id": rng.choice(items),
                    "timestamp": t_event + k,
                }
                r = await client.post("/events", json=[event])
            ok = r.status_code == 200
        except httpx.HTTPError:
            ok = False
        results.append((kind, time.perf_counter() - due, ok))

    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        start = time.perf_counter() + 0.5
        tasks = []
        probe = asyncio.create_task(effects(client, users, start + duration, t_event))
        for k in range(int(rate * duration)):
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, due, k)))
        # bounded in time: whatever has not answered 30 s after the last send is an error
        _, late = await asyncio.wait(
            tasks, timeout=max(0.0, start + duration + 30 - time.perf_counter())
        )
        for task in late:
            task.cancel()
        results += [("late", 0.0, False)] * len(late)
        effect = await probe
        wall = time.perf_counter() - start
    return results, effect, wall


async def effects(client, users: list[str], until: float, t_event: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Once a second: buy the top item of a user's list, then poll the list until the item
    is gone; seconds from sending the POST to the answer that shows its effect."""
    rng = random.Random(7)
    out: list[float] = []
    while time.perf_counter() < until:
        await asyncio.sleep(1.0)
        user = rng.choice(users)
        items = (await client.get(f"/users/{user}/recommendations")).json()["items"]
        if not items:
            continue
        top = items[0]["item_id"]
        began = time.perf_counter()
        event = {"user_id": user, "action": "purchased", "item_id": top, "timestamp": t_event}
        await client.post("/events", json=[event])
        while time.perf_counter() < until + 30:
            listed = (await client.get(f"/users/{user}/recommendations")).json()["items"]
            if top not in [e["item_id"] for e in listed]:
                out.append(time.perf_counter() - began)
                break
    return out


def client_main(args: argparse.Namespace) -> None:
    """Client mode: read users/items, drive the server, print one JSON line of results."""
    ids = json.loads(Path(args.client_ids).read_text())
    results, effect, wall = asyncio.run(
        drive(args.client, ids["users"], ids["items"], args.rate, args.duration)
    )
    lat = {kind: [r[1] for r in results if r[0] == kind] for kind in ("get", "post")}
    every = [r[1] for r in results if r[0] != "late"]

    def pct(values: list[float], q: float) -> float:
        return round(float(np.percentile(values, q)) * 1000, 2) if values else 0.0

    print(
        json.dumps(
            {
                "requests": len(results),
                "errors": sum(1 for r in results if not r[2]),
                "throughput_rps": round(len(results) / wall, 1),
                "latency_ms": {
                    name: {"p50": pct(v, 50), "p99": pct(v, 99), "max": pct(v, 100)}
                    for name, v in (("all", every), *lat.items())
                },
                "effect_ms": {"n": len(effect), "p50": pct(effect, 50), "max": pct(effect, 100)},
            }
        )
    )


# -- the driver ---------------------------------------------------------------------------
def metric(text: str, name: str) -> float:
    """A sample's value from Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def main() -> None:
    """Build, serve, drive from a second process, report."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    p.add_argument("--fold-every", type=float, default=30.0)
    p.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "shopscale-bench")
    p.add_argument("--client", help=argparse.SUPPRESS)
    p.add_argument("--client-ids", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client:
        client_main(args)
        return
    import httpx

    log = ensure_data(args.events, args.data_dir)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        model = Path(tmp) / "recs"
        build_s = build_model(log, model)
        state = model / "model"
        users = pq.read_table(state / "users.parquet").column(0).to_pylist()
        items = pq.read_table(state / "items.parquet").column(0).to_pylist()
        ids = Path(tmp) / "ids.json"
        ids.write_text(json.dumps({"users": users, "items": items}))
        port = free_port()
        server = start_server(model, port, args.fold_every, Path(tmp) / "serve.log")
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--client",
                        url,
                        "--client-ids",
                        str(ids),
                        "--rate",
                        str(args.rate),
                        "--duration",
                        str(args.duration),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=args.duration + 240,
                )
                report = json.loads(out.stdout.strip().splitlines()[-1])
            except subprocess.TimeoutExpired:
                report = {"error": f"the client did not finish within {args.duration + 240:.0f} s"}
            metrics = httpx.get(f"{url}/metrics", timeout=30).text
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    report |= {
        "events": args.events,
        "rate_rps": args.rate,
        "duration_s": args.duration,
        "users": len(users),
        "items": len(items),
        "recommend_s": round(build_s, 1),
        "folds": metric(metrics, "shopscale_folds_total"),
        "fold_s_sum": round(metric(metrics, "shopscale_fold_seconds_sum"), 2),
        "events_folded": metric(metrics, "shopscale_events_folded_total"),
        "cores": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M")
    results = HERE / "results" / f"serve-{stamp}-{args.events}.json"
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {results}")


if __name__ == "__main__":
    main()
