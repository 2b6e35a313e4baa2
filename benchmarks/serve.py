"""The recommendation service under a fixed arrival rate: latency, throughput, errors, and the
time from a posted event to its effect.

Generates a log with ``shopscale generate`` (seed 42, cached in ``--work``), builds a model
with ``shopscale recommend`` once (cached too; every run serves a fresh copy, since the
server's folds publish into the folder it serves), starts ``shopscale serve`` on loopback and
drives it with ``wrk`` (a separate C process) paced by ``serve_wrk.lua`` to a FIXED ARRIVAL
RATE, latency measured from each request's intended send time (no coordinated omission;
benchmarks/README.md explains): 90% ``GET /users/{id}/recommendations`` of random known
users, 10% ``POST /events``, for ``--duration`` seconds per rate, the rates of ``--rates``
one after the other against the same server. Beside the stream, a probe in this process
buys the top item of a random user's list once a second and polls the list until the item is
gone (the time from a POST to its effect). Prints a table and writes
``benchmarks/results/serve-<date>T<time>-<events>.json``.

    python benchmarks/serve.py --work /work/bench-cache                  # 10M, 1,000 req/s, 60 s
    python benchmarks/serve.py --work /work/bench-cache --rates 250,500,1000,1500 --duration 30
    python benchmarks/serve.py --events 50000 --rates 200 --duration 10  # smoke run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq

from shopscale.serve.served import SERVING, prepare, save_prepared

HERE = Path(__file__).resolve().parent
SHOPSCALE = [sys.executable, "-m", "shopscale"]
LUA = HERE / "serve_wrk.lua"
GRACE_S = 4.0
"""wrk runs this much longer than the schedule, so late answers are still measured (under
uvicorn's 5 s keep-alive, which would close the idle connections and count as read errors)."""


def ensure_model(events: int, work: Path, env: dict[str, str]) -> tuple[Path, float | None]:
    """The cached log and model of ``events`` events (built on first use); the recommend
    seconds when it was built now."""
    log = work / f"events-{events}.parquet"
    if not log.exists():
        subprocess.run(
            [*SHOPSCALE, "generate", "--events", str(events), "--out", str(log)],
            check=True,
            env=env,
        )
    model = work / f"model-{events}"
    took = None
    if not (model / "current").exists():
        began = time.perf_counter()
        cmd = [*SHOPSCALE, "recommend", str(log), "--out", str(model), "--db", "none"]
        subprocess.run([*cmd, "--preview", "0"], check=True, stdout=subprocess.DEVNULL, env=env)
        took = time.perf_counter() - began
    serving = model / "current" / SERVING
    if not serving.exists():  # what a server fold saves; else every start would compute it
        save_prepared(serving, prepare(model / "current"))
    return model, took


def fresh_copy(model: Path, dest: Path) -> Path:
    """A results folder holding only the model's current version (the server folds into it)."""
    version = (model / "current").resolve()
    shutil.copytree(version, dest / ".versions" / version.name)
    (dest / "current").symlink_to(Path(".versions") / version.name)
    # on disk before the server starts: else the kernel writes the copy back ~30 s later,
    # in the middle of the run, and every fsync of the server's log waits for it
    os.sync()
    return dest


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    model: Path, port: int, args: argparse.Namespace, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """``shopscale serve`` on loopback; returns once /health answers."""
    cmd = [*SHOPSCALE, "serve", str(model), "--port", str(port)]
    cmd += ["--fold-every", str(args.fold_every)]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.5)
    raise SystemExit(f"server did not answer; see {log}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far (Linux /proc)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_gib(pid: int) -> float:
    """Resident memory of a process now, GiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 2**20, 2)
    return 0.0


def write_ids(users: list[str], items: list[str], threads: int, folder: Path) -> None:
    """Each wrk thread's share of the known users and items (shuffled, seed 42)."""
    rng = random.Random(42)
    users, items = users[:], items[:]
    rng.shuffle(users)
    rng.shuffle(items)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(threads):
        (folder / f"users-{k}.txt").write_text("\n".join(users[k::threads]) + "\n")
        (folder / f"items-{k}.txt").write_text("\n".join(items[k::threads]) + "\n")


def probe_effects(url: str, users: list[str], stop: threading.Event, t_event: int) -> list[float]:
    """Once a second: buy the top item of a user's list, then poll the list until the item
    is gone; seconds from sending the POST to the answer that shows its effect."""
    rng = random.Random(7)
    out: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.wait(1.0):
            user = rng.choice(users)
            items = client.get(f"/users/{user}/recommendations").json()["items"]
            if not items:
                continue
            top = items[0]["item_id"]
            began = time.perf_counter()
            event = {"user_id": user, "action": "purchased", "item_id": top, "timestamp": t_event}
            client.post("/events", json=[event]).raise_for_status()
            while time.perf_counter() - began < 30:
                listed = client.get(f"/users/{user}/recommendations").json()["items"]
                if top not in [e["item_id"] for e in listed]:
                    out.append(time.perf_counter() - began)
                    break
    return out


def run_rate(url: str, rate: float, args: argparse.Namespace, ids: Path, t_event: int):  # type: ignore[no-untyped-def]
    """wrk at ``rate`` for ``args.duration`` s (plus the grace period); per-request rows."""
    out = ids / f"wrk-{rate:g}.txt"
    env = os.environ | {
        "SERVE_RATE": str(rate),
        "SERVE_THREADS": str(args.threads),
        "SERVE_DURATION": str(args.duration),
        "SERVE_IDS": str(ids),
        "SERVE_T_EVENT": str(t_event),
        "SERVE_OUT": str(out),
    }
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.threads)]
    cmd += ["-d", f"{args.duration + GRACE_S:g}s", "--timeout", "10s", "-s", str(LUA), url]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    rows = [line.split() for line in out.read_text().splitlines()]
    done = [(r[0], int(r[1]) / 1e6, int(r[2])) for r in rows if r[0] != "#"]
    tail = next(r for r in rows if r[0] == "#")
    return done, int(tail[2]), int(tail[4]), int(tail[6])


def summarise(
    done: list[tuple[str, float, int]],
    sent: int,
    socket_errors: int,
    rate: float,
    args: argparse.Namespace,
) -> dict:  # type: ignore[type-arg]
    """Throughput, latency percentiles (ms) per kind, errors (non-200 answers and scheduled
    requests without an answer) of one rate's run; wrk's socket errors beside them."""
    scheduled = int(rate * args.duration)

    def pct(values: list[float], q: float) -> float:
        return round(float(np.percentile(values, q)) * 1000, 2) if values else 0.0

    kinds = {"all": [d[1] for d in done]}
    for kind in ("get", "post"):
        kinds[kind] = [d[1] for d in done if d[0] == kind]
    return {
        "rate_rps": rate,
        "scheduled": scheduled,
        "sent": sent,
        "answered": len(done),
        "throughput_rps": round(len(done) / args.duration, 1),
        "errors": sum(1 for d in done if d[2] != 200) + (scheduled - len(done)),
        "socket_errors": socket_errors,
        "non_200": sum(1 for d in done if d[2] != 200),
        "unanswered": scheduled - len(done),
        "latency_ms": {
            k: {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99), "max": pct(v, 100)}
            for k, v in kinds.items()
        },
    }


def measure_rate(
    url: str,
    rate: float,
    args: argparse.Namespace,
    ids: Path,
    users: list[str],
    t_event: int,
    server_pid: int,
) -> dict:  # type: ignore[type-arg]
    """One rate: wrk, the effect probe beside it, the server's CPU share; one table row."""
    stop = threading.Event()
    effects: list[float] = []
    probe = threading.Thread(
        target=lambda: effects.extend(probe_effects(url, users, stop, t_event))
    )
    cpu0, wall0 = cpu_seconds(server_pid), time.perf_counter()
    probe.start()
    done, sent, socket_errors, lost = run_rate(url, rate, args, ids, t_event)
    stop.set()
    probe.join()
    cpu = cpu_seconds(server_pid) - cpu0
    row = summarise(done, sent, socket_errors, rate, args)
    row["lost"] = lost
    row["server_cpu_s"] = round(cpu, 1)
    row["server_cpu_share"] = round(cpu / (time.perf_counter() - wall0), 2)
    row["server_cpu_ms_per_request"] = round(cpu * 1000 / max(row["answered"], 1), 3)
    row["effect_ms"] = {
        "n": len(effects),
        "p50": round(float(np.median(effects)) * 1000, 1) if effects else None,
        "max": round(max(effects) * 1000, 1) if effects else None,
    }
    row["load_after"] = os.getloadavg()
    row["server_rss_gib"] = rss_gib(server_pid)
    return row


def extras_present(env: dict[str, str]) -> dict[str, bool]:
    """Which optional speed-ups the server's Python can import (the ``serve`` extra)."""
    found = {}
    for name in ("uvloop", "httptools", "orjson"):
        code = subprocess.run([sys.executable, "-c", f"import {name}"], env=env, check=False)
        found[name] = code.returncode == 0
    return found


def serve_and_drive(
    model: Path,
    args: argparse.Namespace,
    env: dict[str, str],
    users: list[str],
    items: list[str],
    t_event: int,
    report: dict,  # type: ignore[type-arg]
) -> None:
    """Serve a fresh copy of the model, drive it at each rate, add the rows and the fold
    counts to ``report``; the server is stopped (SIGTERM) whatever happens."""
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        served = fresh_copy(model, Path(tmp) / "recs")
        ids = Path(tmp) / "ids"
        write_ids(users, items, args.threads, ids)
        port = free_port()
        began = time.perf_counter()
        server = start_server(served, port, args, env, Path(tmp) / "serve.log")
        report["server_start_s"] = round(time.perf_counter() - began, 1)
        url = f"http://127.0.0.1:{port}"
        try:
            for rate in [float(r) for r in args.rates.split(",")]:
                row = measure_rate(url, rate, args, ids, users, t_event, server.pid)
                report["runs"].append(row)
                print(json.dumps(row), flush=True)
            metrics = httpx.get(f"{url}/metrics", timeout=30).text
            report["folds"] = metric(metrics, "shopscale_folds_total")
            report["fold_s_sum"] = round(metric(metrics, "shopscale_fold_seconds_sum"), 2)
            report["events_folded"] = metric(metrics, "shopscale_events_folded_total")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=120)
            if args.keep is not None:  # the server's log and every request's line, to study
                args.keep.mkdir(parents=True, exist_ok=True)
                for path in [Path(tmp) / "serve.log", *ids.glob("wrk-*.txt")]:
                    shutil.copy(path, args.keep / path.name)


def main() -> None:
    """Build (once), serve a fresh copy, drive it at each rate, report."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--rates", default="1000", help="requests per second, comma-separated")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load per rate")
    p.add_argument("--threads", type=int, default=64, help="wrk threads (one connection each)")
    p.add_argument("--fold-every", type=float, default=30.0)
    p.add_argument("--work", type=Path, default=HERE / ".data" / "serve")
    p.add_argument("--keep", type=Path, help="copy the server log and wrk's per-request lines here")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    model, recommend_s = ensure_model(args.events, args.work, env)
    state = model / "current" / "model"
    users = pq.read_table(state / "users.parquet").column(0).to_pylist()
    items = pq.read_table(state / "items.parquet").column(0).to_pylist()
    log = args.work / f"events-{args.events}.parquet"
    t_event = int(pq.read_table(log, columns=["timestamp"]).column(0).to_numpy().max()) + 60
    report: dict = {  # type: ignore[type-arg]
        "events": args.events,
        "users": len(users),
        "items": len(items),
        "wrk_threads": args.threads,
        "duration_s": args.duration,
        "fold_every_s": args.fold_every,
        "cores": os.cpu_count(),
        "extras": extras_present(env),
        "load_before": os.getloadavg(),
        "runs": [],
    }
    if recommend_s is not None:
        report["recommend_s"] = round(recommend_s, 1)
    serve_and_drive(model, args, env, users, items, t_event, report)
    print_table(report)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M")
    results = HERE / "results" / f"serve-{stamp}-{args.events}.json"
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {results}")


def metric(text: str, name: str) -> float:
    """A sample's value from Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def print_table(report: dict) -> None:  # type: ignore[type-arg]
    """The README's table: one row per rate."""
    print(
        "| rate req/s | answered req/s | p50 ms | p99 ms | max ms | GET p99 | POST p99 "
        "| errors | server CPU (cores, ms/req) | POST->effect p50/max ms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in report["runs"]:
        lat, e = r["latency_ms"], r["effect_ms"]
        print(
            f"| {r['rate_rps']:g} | {r['throughput_rps']} | {lat['all']['p50']} | "
            f"{lat['all']['p99']} | {lat['all']['max']} | {lat['get']['p99']} | "
            f"{lat['post']['p99']} | {r['errors']} | "
            f"{r['server_cpu_share']}, {r['server_cpu_ms_per_request']} | "
            f"{e['p50']}/{e['max']} |"
        )


if __name__ == "__main__":
    main()
