"""The server's state and its moves: answer from the current model plus the overlay of
posted events, log and acknowledge posted events, fold the log in the background and swap
models atomically (one reference assignment on the event loop thread).

Every handler runs on the event loop thread, so the numba kernel is never entered by two
threads at once; only fsync and model loading run on worker threads, and folds in a worker
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shopscale.events import PostedEvent, check_event
from shopscale.log import get_logger
from shopscale.serve.catalogue import Catalogue
from shopscale.serve.fold import fold_version, fold_worker_init, write_fold_file
from shopscale.serve.folder import current_version
from shopscale.serve.metrics import Metrics
from shopscale.serve.overlay import Overlay
from shopscale.serve.score import Entry, code_of, recommend
from shopscale.serve.served import Served, load_served
from shopscale.store.wal import WriteAheadLog

log = get_logger("serve")


@dataclass(frozen=True)
class ServeConfig:
    """How a server runs (``shopscale serve`` flags)."""

    model_dir: Path
    wal_dir: Path | None = None
    """Default: ``<model_dir>/.wal``."""
    items: Path | None = None
    fold_every_s: float = 30.0
    """Seconds between background folds; 0 turns them off (``POST /admin/fold`` still folds)."""
    max_body_bytes: int = 1_000_000
    max_events: int = 10_000

    @property
    def wal(self) -> Path:
        """The log folder."""
        return self.wal_dir or self.model_dir / ".wal"


class Service:
    """One model served: load, replay, answer, log, fold, swap."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.metrics = Metrics()
        self.wal = WriteAheadLog(config.wal)
        self.served: Served = load_served(current_version(config.model_dir), self.wal.wal_id)
        self.catalogue = Catalogue.read(config.items) if config.items else Catalogue()
        self.catalogue.bind(self.served.items)
        self.overlay = Overlay()
        self.next_t = self.served.state.next_position
        self.folds = 0
        self._fold_lock = asyncio.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._replay()
        self.recommend("", 1, [], {})  # compile or load the kernel before the first request
        gc.freeze()  # the model's objects live long: no cycle collection walks them again

    def _replay(self) -> None:
        """Put every acknowledged event past the model's checkpoint back in the overlay."""
        n = 0
        for record in self.wal.read(self.served.checkpoint):
            self._apply(record.start, record.events)
            n += len(record.events)
        log.info("replayed %d logged event(s) past position %d", n, self.served.checkpoint)

    # -- events ---------------------------------------------------------------------------
    def check(self, records: list[object]) -> tuple[list[PostedEvent], list[tuple[int, str]]]:
        """Valid events and (index, reason) of the others, by the file-row rules."""
        events = self.served.state.events
        timed = self.served.state.timed
        good: list[PostedEvent] = []
        bad: list[tuple[int, str]] = []
        for k, record in enumerate(records):
            event, reason = check_event(record, events, timed=timed)
            if event is None:
                bad.append((k, reason or "invalid event"))
            else:
                good.append(event)
        return good, bad

    async def post(self, events: list[PostedEvent]) -> int:
        """Log the events, fsync, then add them to the overlay; the log position after."""
        rows = [list(e) for e in events]
        start, end = await asyncio.to_thread(self.wal.append, rows)
        self._apply(start, rows)
        self.metrics.accepted.inc(len(rows))
        return end

    def _apply(self, start: int, rows: list[list]) -> None:
        """Overlay rows (canonical action; untimed logs get file-order times here)."""
        if start < self.served.checkpoint:
            return  # folded already (its fold finished before this acknowledgement ran)
        rename = self.served.state.events.rename_actions
        out = []
        for user, action, item, t in rows:
            if t is None:
                t, self.next_t = self.next_t, self.next_t + 1
            out.append((user, rename.get(action, action), item, int(t)))
        self.overlay.add(start, out)
        self.metrics.unfolded.set(self.overlay.size)

    # -- answers --------------------------------------------------------------------------
    def t_ref(self) -> int:
        """The model's reference time: the latest event time it holds, posted ones included."""
        t = self.served.state.t_ref
        return t if self.overlay.max_t is None else max(t, self.overlay.max_t)

    def recommend(
        self, user_id: str, n: int, exclude: list[str], filters: dict[str, str]
    ) -> list[Entry]:
        """The user's list now (model + the user's unfolded events)."""
        served = self.served
        blocked = self.catalogue.blocked(filters)
        extra = [c for c in (code_of(served.items, item) for item in exclude) if c >= 0]
        if extra:
            blocked = np.union1d(blocked, np.array(extra, dtype=np.int32)).astype(np.int32)
        return recommend(
            served,
            user_id,
            self.overlay.posted(user_id),
            t_ref=self.t_ref(),
            n=n,
            blocked=blocked,
        )

    # -- folds ----------------------------------------------------------------------------
    async def fold(self) -> int:
        """Fold every acknowledged event into a new published version and swap to it;
        the number of events folded (0: nothing to fold)."""
        async with self._fold_lock:
            # every disk wait (fsync, the log's lock) runs off the event loop thread
            start, began = self.served.checkpoint, time.perf_counter()
            upto = await asyncio.to_thread(self.wal.roll)
            records = await asyncio.to_thread(lambda: list(self.wal.read(start, upto)))
            n = sum(len(r.events) for r in records)
            if not records:
                return 0
            path = await asyncio.to_thread(
                write_fold_file,
                self.config.wal,
                self.wal.wal_id,
                records,
                self.served.state.events,
                timed=self.served.state.timed,
            )
            loop = asyncio.get_running_loop()
            version = await loop.run_in_executor(
                self._workers(), fold_version, str(self.config.model_dir), str(path)
            )
            served = await asyncio.to_thread(load_served, Path(version), self.wal.wal_id)
            self._swap(served)
            await asyncio.to_thread(self._forget, path)
            self.folds += 1
            self.metrics.folds.inc()
            self.metrics.folded.inc(n)
            self.metrics.fold_seconds.observe(time.perf_counter() - began)
            log.info("folded %d event(s) up to position %d into %s", n, upto, version)
            return n

    def _workers(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=fold_worker_init
            )
        return self._pool

    async def _fold_forever(self) -> None:
        """Fold every ``fold_every_s`` seconds; a failed fold is logged and retried."""
        while True:
            await asyncio.sleep(self.config.fold_every_s)
            try:
                await self.fold()
            except Exception:
                self.metrics.fold_failures.inc()
                log.exception("fold failed; the current model stays served")
                await self.recover()

    async def recover(self) -> None:
        """After a failed fold: a fresh worker, and the published version if it moved on."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        version = current_version(self.config.model_dir)
        if version != self.served.version:
            served = await asyncio.to_thread(load_served, version, self.wal.wal_id)
            self._swap(served)
            await asyncio.to_thread(self._forget, None)

    def _forget(self, fold_file: Path | None) -> None:
        """Delete what the served model holds for good: folded log segments, the fold file."""
        self.wal.drop_before(self.served.checkpoint)
        if fold_file is not None:
            fold_file.unlink(missing_ok=True)

    def _swap(self, served: Served) -> None:
        """Serve ``served`` from now on (one reference assignment on the loop thread)."""
        self.catalogue.bind(served.items)
        self.served = served
        # the new model's objects (the old one's go by reference counting) leave the cycle
        # collector's generations: a full collection no longer walks a model on the loop
        gc.freeze()
        self.overlay.prune(served.checkpoint)
        self.metrics.unfolded.set(self.overlay.size)

    def start(self) -> None:
        """Start the fold worker (its process start blocks the caller, so it happens before
        the first request, not in the middle of serving) and background folds."""
        self._workers().submit(int).result()
        if self.config.fold_every_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._fold_forever())

    async def stop(self) -> None:
        """Stop folding and close the log."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._stop_workers()
        self.wal.close()

    def _stop_workers(self) -> None:
        """End the fold worker now, abandoning a fold in progress: safe (it publishes with
        one rename, and an unpublished fold's staging folder is swept; the log keeps its
        events), and waiting could hold a SIGTERM for minutes on a large model."""
        if self._pool is None:
            return
        # ProcessPoolExecutor has no public way to end a running task: kill its processes
        workers = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.kill()
        self._pool = None
