"""A real Spark standalone cluster on loopback: one master and two workers, started from the
pyspark installation itself (``bin/spark-class``), for tests and benchmarks/spark.py.

Every daemon runs in its own process group (``start_new_session``); executors and their Python
workers are children of a worker, so stopping a group stops them too. Logs, work and conf
directories live under the given root, so nothing is written next to pyspark or in ``$HOME``.

Executors import shopscale because the workers are started with ``PYTHONPATH`` set to the
folder that holds the ``shopscale`` package this process imported (a checkout's ``src/`` or
``site-packages``) and the driver's ``PYSPARK_PYTHON`` (the same interpreter) is used by the
executors: the same code on both sides, whether shopscale is a checkout or an installed package.
A cluster on other machines ships it instead (``--py-files`` or ``spark.archives``: docs/spark.md).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import shopscale

START_TIMEOUT_S = 180.0
"""Longest wait for the master and both workers (JVM start on a loaded 2-core machine)."""
STOP_TIMEOUT_S = 20.0
"""Grace after SIGTERM before a daemon's process group is killed."""
POLL_S = 0.5
PR_SET_PDEATHSIG = 1
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


@dataclass(frozen=True)
class ClusterSpec:
    """Size of the test cluster: small enough for a shared 2-core machine."""

    workers: int = 2
    cores_per_worker: int = 1
    memory_per_worker: str = "1g"
    daemon_memory: str = "256m"


@dataclass
class StandaloneCluster:
    """A running master and its workers; ``url`` is what ``--master`` takes."""

    root: Path
    url: str
    ui_url: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def pids(self) -> list[int]:
        """Process ids of the master and worker JVMs (each leads its own process group)."""
        return [p.pid for p in self.procs.values()]

    def state(self) -> dict[str, object]:
        """The master's JSON status (workers, cores, running applications)."""
        with urllib.request.urlopen(f"{self.ui_url}/json", timeout=5) as resp:
            status: dict[str, object] = json.loads(resp.read())
        return status

    def alive_workers(self) -> int:
        """Workers the master counts as ALIVE."""
        workers = self.state().get("workers", [])
        assert isinstance(workers, list)
        return sum(1 for w in workers if w.get("state") == "ALIVE")

    def log_tail(self, chars: int = 3000) -> str:
        """The end of every daemon's log, for a failure message."""
        parts = []
        for name in self.procs:
            path = self.root / "logs" / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else "(no log)"
            parts.append(f"--- {name} ---\n{text[-chars:]}")
        return "\n".join(parts)


def spark_home() -> Path:
    """The Spark distribution inside the pyspark package (jars/, bin/spark-class)."""
    import pyspark

    home = Path(pyspark.__file__).resolve().parent
    if not (home / "bin" / "spark-class").is_file():
        raise RuntimeError(f"no bin/spark-class in the pyspark installation at {home}")
    return home


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def shopscale_path() -> str:
    """The folder holding the ``shopscale`` package this process imported."""
    return str(Path(shopscale.__file__).resolve().parents[1])


def shopscale_zip(dest: Path) -> Path:
    """``dest/shopscale.zip`` with the imported ``shopscale`` package at its root, the form
    ``--py-files`` takes (docs/spark.md); caches and compiled files are left out."""
    package = Path(shopscale_path()) / "shopscale"
    path = dest / "shopscale.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(package.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                zf.write(file, file.relative_to(package.parent))
    return path


def daemon_env(root: Path, spec: ClusterSpec) -> dict[str, str]:
    """Environment of the daemons (and so of executors and their Python workers)."""
    env = dict(os.environ)
    conf = root / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_CONF_DIR=str(conf),  # empty: no user or system spark-defaults leak in
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOCAL_DIRS=str(root / "local"),
        SPARK_DAEMON_MEMORY=spec.daemon_memory,
        PYSPARK_PYTHON=sys.executable,
        PYTHONPATH=shopscale_path(),
    )
    return env


def _launch(root: Path, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``spark-class ARGS`` in a new process group, logging to ``root/logs/NAME.log``."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=root,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started it dies, even by SIGKILL (Linux),
    so a killed test run leaves no daemons; executors exit when their worker is gone."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_for_workers(cluster: StandaloneCluster, want: int, timeout_s: float) -> None:
    """Poll the master's ``/json`` until ``want`` workers are ALIVE; fail with the logs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        dead = [name for name, p in cluster.procs.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"spark daemon(s) {dead} exited\n{cluster.log_tail()}")
        try:
            if cluster.alive_workers() >= want:
                return
        except (OSError, ValueError):  # web UI not up yet, or answering before its JSON is ready
            pass
        time.sleep(POLL_S)
    raise RuntimeError(f"{want} workers not registered in {timeout_s:.0f} s\n{cluster.log_tail()}")


def stop_cluster(cluster: StandaloneCluster) -> None:
    """SIGTERM every daemon's process group (executors included), SIGKILL what lingers."""
    for proc in reversed(list(cluster.procs.values())):
        _signal_group(proc.pid, signal.SIGTERM)
    for proc in cluster.procs.values():
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)
        _signal_group(proc.pid, signal.SIGKILL)  # children (executors) may outlive the leader
        proc.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to process group ``pgid`` if it still exists."""
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)


@contextmanager
def standalone_cluster(
    root: Path, spec: ClusterSpec = ClusterSpec(), timeout_s: float = START_TIMEOUT_S
) -> Iterator[StandaloneCluster]:
    """Start a master and ``spec.workers`` workers under ``root``; stop them all on exit."""
    env = daemon_env(root, spec)
    port, ui_port = free_port(), free_port()
    cluster = StandaloneCluster(root, f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}")
    try:
        cluster.procs["master"] = _launch(
            root,
            "master",
            [
                MASTER_CLASS,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(ui_port),
            ],
            env,
        )
        for k in range(spec.workers):
            work = root / f"work-{k}"
            work.mkdir(parents=True, exist_ok=True)
            args = [WORKER_CLASS, "--host", "127.0.0.1", "--port", "0", "--webui-port", "0",
                    "--cores", str(spec.cores_per_worker), "--memory", spec.memory_per_worker,
                    "--work-dir", str(work), cluster.url]  # fmt: skip
            cluster.procs[f"worker-{k}"] = _launch(root, f"worker-{k}", args, env)
        _wait_for_workers(cluster, spec.workers, timeout_s)
        yield cluster
    finally:
        stop_cluster(cluster)


def driver_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a driver process (the ``shopscale`` CLI) on the test cluster."""
    env = dict(os.environ)
    env.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    env.update(extra or {})
    return env
