"""The query of ``GET /users/{id}/recommendations``, read by hand: the hot route takes only
the request, because FastAPI's per-parameter validation cost more than scoring the list.
The rules are those the route declared before (id length, ``n`` from 1 to 1000, repeatable
``exclude``, any other name filters on an item attribute); ``PARAMETERS`` documents them on
the OpenAPI page. A new parameter is one field here, one line in ``read_list_query``, one
entry in ``PARAMETERS`` and its name in ``QUERY_NAMES``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException
from starlette.requests import Request

from shopscale.events import MAX_ID_LENGTH

QUERY_NAMES = {"n", "exclude", "action", "explain"}
"""Query names that are not item attribute filters (``action`` belongs to /similar)."""
MAX_N = 1000
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
"""How a boolean query value may be spelled (FastAPI's spellings)."""


@dataclass(frozen=True)
class ListQuery:
    """What a list request asks for."""

    user_id: str
    n: int | None
    """None: the model's n."""
    exclude: list[str]
    filters: dict[str, str]
    """Item attribute -> wanted value."""
    explain: bool = False
    """Add each item's reason, tier score and score terms (``serve.explain``)."""


def read_list_query(request: Request, attributes: set[str]) -> ListQuery:
    """The request's query, checked (422 naming the first problem)."""
    user_id = request.path_params["user_id"]
    if len(user_id) > MAX_ID_LENGTH:
        raise HTTPException(422, f"user_id is longer than {MAX_ID_LENGTH} characters")
    q = request.query_params
    n = None
    if "n" in q:
        raw = q["n"]
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_N):
            raise HTTPException(422, f"n must be an integer from 1 to {MAX_N}, not {raw!r}")
        n = int(raw)
    filters = {k: v for k, v in q.items() if k not in QUERY_NAMES}
    unknown = sorted(set(filters) - attributes)
    if unknown:
        known = ", ".join(sorted(attributes)) or "none"
        raise HTTPException(422, f"unknown filter {unknown[0]!r} (item attributes: {known})")
    explain = q.get("explain", "false").lower()
    if explain not in BOOLEANS:
        raise HTTPException(422, f"explain must be true or false, not {q['explain']!r}")
    return ListQuery(user_id, n, q.getlist("exclude"), filters, BOOLEANS[explain])


PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "user_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": MAX_ID_LENGTH},
    },
    {
        "name": "n",
        "in": "query",
        "description": "list length (default: the model's n)",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_N},
    },
    {
        "name": "exclude",
        "in": "query",
        "description": "item ids not to list (repeatable)",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    {
        "name": "explain",
        "in": "query",
        "description": "add each item's reason, tier score and the terms of its score",
        "schema": {"type": "boolean", "default": False},
    },
]
