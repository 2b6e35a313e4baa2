"""Named loggers for the library and a timer that logs how long a step took."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

LOGGER_NAME = "shopscale"

ProgressFn = Callable[[str, int, int], None]
"""``(stage, done, total)``: ``total == 0`` says a stage started whose size is not known."""

STAGE_PROGRESS: ContextVar[ProgressFn | None] = ContextVar("stage_progress", default=None)
"""Who hears of each timed step as it starts (a progress display), when anybody does."""


def report_progress(stage: str, done: int, total: int) -> None:
    """Tell the progress display, if one listens, how far ``stage`` is."""
    listener = STAGE_PROGRESS.get()
    if listener is not None:
        listener(stage, done, total)


def get_logger(name: str) -> logging.Logger:
    """Return the child logger ``shopscale.<name>``; the library never adds handlers."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


@contextmanager
def timed(
    log: logging.Logger, what: str, timings: dict[str, float] | None = None
) -> Iterator[None]:
    """Log ``what`` with its wall time; also store it in ``timings`` when given. A step
    that raises is logged as failed, not as taking its time."""
    report_progress(what, 0, 0)
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        log.info("%s failed after %.2f s", what, time.perf_counter() - start)
        raise
    elapsed = time.perf_counter() - start
    if timings is not None:
        timings[what] = round(timings.get(what, 0.0) + elapsed, 4)
    log.info("%s took %.2f s", what, elapsed)
