"""``shopscale show --explain``: a user's list with the terms of each score, from the model
state of the same published version as the list (``recommend.explain``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from shopscale.errors import ShopscaleError
from shopscale.recommend.explain import (
    Explanation,
    Model,
    Term,
    explain,
    history_weights,
    user_rows,
)
from shopscale.recommend.model import read_state
from shopscale.recommend.pipeline import MODEL_DIR
from shopscale.serve.served import indicators_of

TOP_TERMS = 3
"""Terms shown per item (largest share first); the rest are summed as "+k more"."""
REL_TOL = 1e-9
"""A CSV or JSON Lines list holds the score as text: equal to this (relative) is equal."""


def explain_rows(version: Path, user: str, rows: list[tuple[Any, ...]]) -> list[Explanation]:
    """Explain a user's rows (user_id, rank, item_id, score, source) of ``version``'s list by
    the model state in ``version/model``; a list the model did not produce is an error."""
    state = read_state(version / MODEL_DIR).in_string_order()
    ind = indicators_of(version, state)
    items = state.items.to_pylist()
    model = Model(ind.votes, ind.prior, items, state.channels, state.params)
    h_idx, h_val = history_weights(user_rows(state, user), state.actions, model, state.t_ref)
    code = {item: k for k, item in enumerate(items)}
    unknown = [str(r[2]) for r in rows if str(r[2]) not in code]
    if unknown:
        raise ShopscaleError(f"{version}: item {unknown[0]!r} of the list is not in model/")
    listed = [(code[str(r[2])], str(r[4])) for r in rows]
    explained = explain(model, h_idx, np.asarray(h_val), listed)
    for row, e in zip(rows, explained, strict=True):
        if not math.isclose(float(row[3]), e.score, rel_tol=REL_TOL, abs_tol=0.0):
            raise ShopscaleError(
                f"{version}: the list's score of item {e.item_id!r} ({float(row[3])!r}) is not "
                f"the model's ({e.score!r}); the list and model/ come from different runs"
            )
    return explained


def explain_table(user: str, explained: list[Explanation]) -> Table:
    """One row per list entry: rank, item, score, source, reason, tier score and the
    largest terms by share."""
    table = Table(title=f"why these items, for user {user}", title_justify="left")
    for c in ("rank", "item_id", "score", "source", "reason", "tier score", "terms (share)"):
        table.add_column(c, justify="right" if c in ("rank", "score", "tier score") else "left")
    for e in explained:
        table.add_row(
            str(e.rank),
            e.item_id,
            f"{e.score:,.3f}",
            e.source,
            e.reason,
            f"{e.tier_score:.4g}",
            terms_text(e),
        )
    return table


def terms_text(e: Explanation) -> str:
    """The largest ``TOP_TERMS`` parts by share (ties in list order), then "+k more"; the
    terms of one part (own engagement with one action: its first event and, with
    ``repeats``, the others) are shown summed."""
    if not e.terms:
        return "popular item (list shorter than n)" if e.source == "backfill" else ""
    shares: dict[str, float] = {}
    for t in e.terms:
        label = _label(t)
        shares[label] = shares.get(label, 0.0) + t.share
    ranked = sorted(shares.items(), key=lambda part: -part[1])
    parts = [f"{label} {_percent(share)}" for label, share in ranked[:TOP_TERMS]]
    rest = ranked[TOP_TERMS:]
    if rest:
        parts.append(f"+{len(rest)} more {_percent(sum(share for _, share in rest))}")
    return "; ".join(parts)


def _label(t: Term) -> str:
    """How a term is named in the table."""
    if t.kind == "prior":
        return "prior"
    if t.kind == "own":
        return f"own {t.action}"
    return f"{t.action} {t.item_id!r}"


def _percent(share: float) -> str:
    """A share as a percentage; a positive share too small to show is "<0.1%", not 0."""
    return "<0.1%" if 0 < share < 0.0005 else f"{share:.1%}"
