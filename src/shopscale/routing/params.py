"""Parameters of the delivery-routes job, loaded from the ``[routes]`` TOML section."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from shopscale.config import check_fields

Engine = Literal["local", "spark"]
PartitionerName = Literal["sweep", "kmeans"]
MAX_SEED = 2**31 - 1
"""Seeds of later solves are offset from ``seed``; PyVRP takes 32-bit unsigned seeds."""
MAX_WORKERS = 256
"""Solver processes at most (each is a whole PyVRP run)."""


@dataclass(frozen=True)
class RoutingParams:
    """How to plan routes: time budget, decomposition sizes, engine and travel speeds.

    ``whole_max_orders``: instances with at most this many orders are solved whole.
    ``whole_start_max_orders``: larger instances up to this many orders start from whole-instance
    solves (one seed per worker, the best kept) instead of the geographic split; 0 = always split.
    ``subproblem_size``: target orders per sub-problem when decomposing.
    ``initial_share``: fraction of the budget spent on the first (map) solve.
    ``round_time_s``: solver time per sub-problem in an improvement round (0 = automatic).
    ``large_round_every``: every n-th improvement round uses pieces twice as large (0 = never),
    so routes can move between more neighbours now and then.
    ``speed_kmh`` is used with lat/lon coordinates (haversine), ``speed`` with x/y coordinates
    (distance units per time unit).
    """

    time_limit_s: float = 60.0
    seed: int = 0
    engine: Engine = "local"
    workers: int = 2
    whole_max_orders: int = 1500
    whole_start_max_orders: int = 5000
    subproblem_size: int = 300
    partitioner: PartitionerName = "kmeans"
    initial_share: float = 0.25
    round_time_s: float = 0.0
    large_round_every: int = 2
    speed_kmh: float = 50.0
    speed: float = 1.0
    spark_master: str = "local[2]"

    def __post_init__(self) -> None:
        check_fields(self)  # types, Literal choices, finite floats, 64-bit ints
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")
        if self.workers > MAX_WORKERS:
            raise ValueError(f"workers must be at most {MAX_WORKERS}, got {self.workers}")
        if self.time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be > 0, got {self.time_limit_s}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.whole_max_orders < 1:
            raise ValueError(f"whole_max_orders must be >= 1, got {self.whole_max_orders}")
        if self.whole_start_max_orders < 0:
            raise ValueError(
                f"whole_start_max_orders must be >= 0, got {self.whole_start_max_orders}"
            )
        if self.subproblem_size < 10:
            raise ValueError(f"subproblem_size must be >= 10, got {self.subproblem_size}")
        if not 0.0 < self.initial_share <= 1.0:
            raise ValueError(f"initial_share must be in (0, 1], got {self.initial_share}")
        if self.large_round_every < 0:
            raise ValueError(f"large_round_every must be >= 0, got {self.large_round_every}")
        if self.round_time_s < 0:
            raise ValueError(f"round_time_s must be >= 0, got {self.round_time_s}")
        if self.speed_kmh <= 0 or self.speed <= 0:
            raise ValueError("speed_kmh and speed must be > 0")


def parse_duration(text: str) -> float:
    """Seconds in a time limit such as ``90``, ``90s``, ``10m`` or ``1h``."""
    value = text.strip().lower()
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    scale = units.get(value[-1:])
    number = value[:-1] if scale is not None else value
    try:
        seconds = float(number) * (scale or 1.0)
    except ValueError:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 10m, 1h)") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration must be a finite number > 0: {text!r}")
    return seconds
