"""Infeasibility that can be known before solving (stub)."""

from __future__ import annotations

from shopscale.routing.problem import Problem


def refuse_infeasible(problem: Problem) -> None:
    """Raise an input error naming every order no plan can serve."""
