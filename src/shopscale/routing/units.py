"""Numbers in messages as the user wrote them: order ids, times and amounts in file units.

Internally VRPTW (DIMACS) times and distances are tenths and table costs micro-currency;
a message that says ``1830`` where the file says ``183`` sends the user hunting. Every
message about an order goes through these helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shopscale.routing.problem import UNLIMITED, Problem


def per_file_unit(problem: Problem) -> float:
    """Internal time/distance units per unit of the input file (10 for DIMACS VRPTW)."""
    return 1.0 / problem.cost_scale if problem.source_kind == "vrplib" else 1.0


def _number(value: float) -> str:
    """A number without a spurious ``.0``."""
    return f"{value:g}" if abs(value) < 1e15 else f"{value:.0f}"


def _clock(seconds: int) -> str:
    """``HH:MM`` (``:SS`` when not whole minutes); hours may exceed 24."""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def time_text(problem: Problem, t: float) -> str:
    """A time of day as in the file: VRPLIB units, or seconds with the clock time."""
    if t >= UNLIMITED:
        return "no limit"
    if problem.source_kind == "vrplib":
        return _number(t / per_file_unit(problem))
    return f"{int(t)} s ({_clock(int(t))})" if t >= 0 else f"{int(t)} s"


def span_text(problem: Problem, duration: float) -> str:
    """A duration or distance in the file's unit (VRPLIB units, or seconds for tables)."""
    if duration >= UNLIMITED:
        return "no limit"
    value = _number(duration / per_file_unit(problem))
    return value if problem.source_kind == "vrplib" else f"{value} s"


def distance_text(problem: Problem, distance: float) -> str:
    """A distance in the file's unit (metres for lat/lon tables)."""
    if distance >= UNLIMITED:
        return "no limit"
    value = _number(distance / per_file_unit(problem))
    return f"{value} m" if problem.geographic else value


def amount_text(values: Sequence[int] | np.ndarray) -> str:
    """A demand or capacity as written in the file (``10`` or ``10;5``); huge = unlimited."""
    items = [int(v) for v in np.atleast_1d(np.asarray(values))]
    return ";".join("unlimited" if v >= UNLIMITED else str(v) for v in items)


def window_text(problem: Problem, window: Sequence[int] | np.ndarray) -> str:
    """A time window ``[start, end]`` in file units."""
    early, late = int(window[0]), int(window[1])
    return f"{time_text(problem, early)} to {time_text(problem, late)}"
