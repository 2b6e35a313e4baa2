"""CPU per list request inside the application, without the HTTP server: the ASGI app of
``shopscale serve`` called directly on one event loop, ``GET /users/{id}/recommendations``
of random known users, CPU time of this process (best of 3 passes). Compares source trees
(e.g. a ``git archive`` of an older commit) on the same model; each runs in its own process.

    python benchmarks/serve_app.py MODEL_DIR --src src /tmp/old/src
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def list_scope(path: str) -> dict:  # type: ignore[type-arg]
    """The ASGI scope of a GET of ``path`` as uvicorn would pass it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }


def measure(model: Path, requests: int) -> float:
    """CPU microseconds per list request through the app (best of 3 passes)."""
    from shopscale.serve.app import create_app
    from shopscale.serve.service import ServeConfig, Service

    service = Service(
        ServeConfig(model_dir=model, wal_dir=Path(tempfile.mkdtemp()), fold_every_s=0)
    )
    app = create_app(service)
    rng = random.Random(2)
    users = [rng.choice(service.served.users) for _ in range(requests)]

    async def one(user: str) -> None:
        scope = list_scope(f"/users/{user}/recommendations")
        sent: list[dict] = []  # type: ignore[type-arg]

        async def receive() -> dict:  # type: ignore[type-arg]
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:  # type: ignore[type-arg]
            sent.append(message)

        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"{scope['path']}: {sent}")

    async def passes() -> float:
        for user in users[:300]:
            await one(user)
        best = float("inf")
        for _ in range(3):
            began = time.process_time()
            for user in users:
                await one(user)
            best = min(best, (time.process_time() - began) / len(users) * 1e6)
        return best

    return asyncio.run(passes())


def main() -> None:
    """Measure each source tree in its own process; print one line each."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("model", type=Path, help="results folder of recommend")
    p.add_argument("--src", nargs="+", default=[str(Path(__file__).parents[1] / "src")])
    p.add_argument("--requests", type=int, default=4000)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(f"{measure(args.model, args.requests):.1f}")
        return
    for src in args.src:
        env = os.environ | {"PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
        cmd = [sys.executable, __file__, str(args.model), "--requests", str(args.requests)]
        out = subprocess.run([*cmd, "--child"], env=env, check=True, capture_output=True, text=True)
        print(f"{src}: {out.stdout.strip().splitlines()[-1]} CPU us per list request")


if __name__ == "__main__":
    main()
