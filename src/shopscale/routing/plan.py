"""The plan data types shared by the solver, the merge step, the checker and the writers."""

from __future__ import annotations

from dataclasses import dataclass, field

Visit = tuple[str, int]
"""``(kind, index)``: kind ``C`` order from the depot, ``P``/``D`` pickup/delivery of a
paired order, ``R`` reload at depot ``index``; otherwise ``index`` is the order index."""

KIND_NAMES = {"C": "delivery", "P": "pickup", "D": "delivery", "R": "reload"}


@dataclass(frozen=True)
class PlanRoute:
    """One vehicle's route: its type, its visits in order and its cost (solver's integers).

    ``times`` holds ``(arrival, departure)`` per visit as scheduled by the solver.
    """

    vehicle_type: int
    visits: tuple[Visit, ...]
    cost: int
    distance: int
    duration: int
    start: int
    end: int
    times: tuple[tuple[int, int], ...] = ()

    def orders(self) -> list[int]:
        """Order indices visited (each pickup-and-delivery order once)."""
        return [i for kind, i in self.visits if kind in ("C", "D")]


@dataclass
class Plan:
    """A full plan: routes, unserved orders with a reason, and what producing it cost."""

    routes: list[PlanRoute]
    unserved: dict[int, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    history: list[tuple[float, int]] = field(default_factory=list)

    @property
    def cost(self) -> int:
        """Total route cost in the problem's integer cost unit."""
        return sum(r.cost for r in self.routes)

    @property
    def distance(self) -> int:
        """Total distance in the problem's integer distance unit."""
        return sum(r.distance for r in self.routes)
