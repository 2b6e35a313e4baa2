"""Run a function over a sequence on a few threads, results in input order, few in flight.

The local engine's heavy steps (DuckDB fetches, SciPy products, numba kernels) release the GIL,
so threads use every core; keeping at most ``ahead`` results pending bounds the memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], *, threads: int, ahead: int
) -> Iterator[R]:
    """``map(fn, items)`` on ``threads`` threads with at most ``ahead`` results pending."""
    with ThreadPoolExecutor(max(1, threads)) as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= max(1, ahead):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
