"""Request and response bodies of the HTTP API (they make the OpenAPI page)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Recommendation(BaseModel):
    """One entry of a user's list."""

    item_id: str
    score: float = Field(description="0 for backfill entries")
    source: str = Field(description="model or backfill")


class Recommendations(BaseModel):
    """A user's list, computed at request time."""

    user_id: str
    known: bool = Field(description="whether the model or the posted events know the user")
    items: list[Recommendation]


class SimilarItem(BaseModel):
    """One indicator of an item (a row of similar_items.parquet)."""

    item_id: str
    rank: int
    score: float


class Similar(BaseModel):
    """An item's indicators for one action."""

    item_id: str
    action: str
    items: list[SimilarItem]


class Rejected(BaseModel):
    """A posted event that was not accepted, by its index in the posted list."""

    index: int
    reason: str


class EventsAccepted(BaseModel):
    """The answer to POST /events once the accepted events are logged and fsynced."""

    accepted: int
    rejected: list[Rejected]
    wal_position: int


class ItemAttributes(BaseModel):
    """An item's attributes after PUT /items/{id}."""

    item_id: str
    attributes: dict[str, str]


class Folded(BaseModel):
    """The answer to POST /admin/fold."""

    folded: int
    checkpoint: int
    version: str


class Health(BaseModel):
    """Whether the server answers, and from which model."""

    status: str
    version: str
    users: int
    items: int
    folds: int
    checkpoint: int
    wal_position: int
    unfolded_events: int
    model_age_s: float
