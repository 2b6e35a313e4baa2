"""Named loggers for the library and a timer that logs how long a step took."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

LOGGER_NAME = "shopscale"


def get_logger(name: str) -> logging.Logger:
    """Return the child logger ``shopscale.<name>``; the library never adds handlers."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


@contextmanager
def timed(
    log: logging.Logger, what: str, timings: dict[str, float] | None = None
) -> Iterator[None]:
    """Log ``what`` with its wall time; also store it in ``timings`` when given. A step
    that raises is logged as failed, not as taking its time."""
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
