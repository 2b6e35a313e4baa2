"""GET /users/{id}/recommendations?explain=true: the request-time list with the terms of each
score (``recommend.explain``), from the very history weights the request's ranking used.

A separate path: the default answer never runs any of this.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from shopscale.recommend.explain import Model, explain
from shopscale.serve.schemas import Recommendation
from shopscale.serve.score import code_of, history_csr, user_view
from shopscale.serve.service import Service


class ScoreTerm(BaseModel):
    """One term of a score."""

    kind: str = Field(description="own (engagement), prior (unprompted purchases) or similar")
    action: str | None = Field(description="the history entry's action; null for the prior")
    item_id: str | None = Field(description="the history item that voted; null for the prior")
    value: float
    share: float = Field(description="value / score; an item's shares add up to 1")


class ExplainedRecommendation(Recommendation):
    """A list entry with why it is there."""

    reason: str = Field(description="own, prior or similar (the largest part), or backfill")
    tier_score: float = Field(description="the largest part in its kind's unit")
    terms: list[ScoreTerm] = Field(description="in the order the ranker added them")


class ExplainedRecommendations(BaseModel):
    """A user's list now, explained."""

    user_id: str
    known: bool
    items: list[ExplainedRecommendation]


def explained_list(
    service: Service, user_id: str, n: int, exclude: list[str], filters: dict[str, str]
) -> ExplainedRecommendations:
    """The user's list as the default path answers it, and its terms (no await in between,
    so both read the same model and the same posted events)."""
    served = service.served
    entries = service.recommend(user_id, n, exclude, filters)
    view = user_view(served, user_id, service.overlay.posted(user_id))
    h_idx, h_val = history_csr(served, view, service.t_ref())
    ind, state = served.indicators, served.state
    model = Model(ind.votes, ind.prior, served.items, state.channels, state.params)
    listed = [(code_of(served.items, e.item_id), e.source) for e in entries]
    explained = explain(model, h_idx, h_val, listed)
    known = code_of(served.users, user_id) >= 0 or user_id in service.overlay.by_user
    return ExplainedRecommendations(
        user_id=user_id,
        known=known,
        items=[
            ExplainedRecommendation(
                item_id=e.item_id,
                score=entry.score,
                source=e.source,
                reason=e.reason,
                tier_score=e.tier_score,
                terms=[ScoreTerm(**vars(t)) for t in e.terms],
            )
            for entry, e in zip(entries, explained, strict=True)
        ],
    )
