"""Load result tables into a database on a worker thread while the job still produces them.

The job's last stages are numeric kernels that release the GIL and DuckDB scans; loading SQLite
or PostgreSQL is mostly single-threaded, so running it beside them uses the otherwise idle core.
The load is still one transaction (``store.sql.write_tables``): on any error it rolls back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping

import pyarrow as pa

from shopscale.store.faults import fault_point

_DONE = object()


class _Failed:
    """Sentinel carrying the producer's error into the worker, so the load rolls back."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class BackgroundLoad:
    """Feed tables batch by batch; ``finish`` waits for the commit and re-raises worker errors."""

    def __init__(self, url: str, schemas: Mapping[str, pa.Schema], *, depth: int = 4) -> None:
        self.url = url
        self.schemas = dict(schemas)
        self._queues: dict[str, queue.Queue[object]] = {n: queue.Queue(depth) for n in schemas}
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="shopscale-db-load", daemon=True)
        self._thread.start()

    def _batches(self, name: str) -> Iterator[pa.RecordBatch]:
        """What the producer puts for ``name``, until it says done (or failed).

        Fault point ``load:<name>``: once the first batch is in the database (for the
        fault-injection tests, ``store.faults``)."""
        q = self._queues[name]
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
            fault_point(f"load:{name}")

    def _work(self) -> None:
        from shopscale.store.sql import write_tables

        try:
            write_tables(
                self.url, {n: self._batches(n) for n in self.schemas}, schemas=self.schemas
            )
        except BaseException as exc:  # handed to the producer in finish()
            self._error = exc
            for q in self._queues.values():  # unblock a producer waiting on a full queue
                while not q.empty():
                    q.get_nowait()

    def put(self, name: str, batch: pa.RecordBatch) -> None:
        """Queue one batch of table ``name`` (blocks while the worker is behind); ids held as
        dictionary arrays are decoded to the table's plain schema first."""
        if batch.schema != self.schemas[name]:
            batch = batch.cast(self.schemas[name])
        while self._error is None:
            try:
                self._queues[name].put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def tee(self, name: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Pass batches through while also queueing them for the database."""
        for batch in batches:
            self.put(name, batch)
            yield batch
        self.done(name)

    def done(self, name: str) -> None:
        """No more batches for ``name``."""
        self._queues[name].put(_DONE)

    def abort(self, error: BaseException) -> None:
        """The producer failed: make the worker roll back, and wait for it."""
        for q in self._queues.values():
            q.put(_Failed(error))
        self._thread.join()

    def finish(self) -> None:
        """Wait for the commit; re-raise the worker's error, if any."""
        self._thread.join()
        if self._error is not None:
            raise self._error
