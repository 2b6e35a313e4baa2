"""The HTTP API (FastAPI): recommendations at request time, similar items, posted events,
item attributes, folds, health and Prometheus metrics. docs/serving.md describes it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopscale.events import MAX_ID_LENGTH
from shopscale.serve import schemas
from shopscale.serve._json import dumps
from shopscale.serve.catalogue import text
from shopscale.serve.explain import explained_list
from shopscale.serve.metrics import Metrics
from shopscale.serve.query import PARAMETERS, QUERY_NAMES, read_list_query
from shopscale.serve.score import code_of
from shopscale.serve.service import Service

Id = Annotated[str, Path(max_length=MAX_ID_LENGTH)]


class JSONBytes(Response):
    """A JSON answer serialised without a model: orjson when installed (the ``serve``
    extra), else the standard library; both write floats so they read back exactly."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


LIST_ROUTE = "/users/{user_id}/recommendations"
LIST_PATH = re.compile(r"/users/(?P<user_id>[^/]+)/recommendations")
LIST_DOCS = {"parameters": PARAMETERS}


def list_answer(service: Service, request: Request) -> Response:
    """``GET /users/{id}/recommendations``: the query read by hand (``query.py``), the list
    scored at request time, the body serialised directly (``schemas.Recommendations``
    documents it)."""
    q = read_list_query(request, service.catalogue.columns)
    served = service.served
    n = q.n or served.state.params.n
    if q.explain:  # a separate path: the default answer does none of its work
        return JSONBytes(explained_list(service, q.user_id, n, q.exclude, q.filters).model_dump())
    entries = service.recommend(q.user_id, n, q.exclude, q.filters)
    known = served.user_code(q.user_id) >= 0 or q.user_id in service.overlay.by_user
    body = {"user_id": q.user_id, "known": known, "items": [vars(e) for e in entries]}
    return JSONBytes(body)


class ListFastPath:
    """ASGI middleware: a list request goes straight to ``list_answer``, past the router and
    FastAPI's request machinery, which cost several times the list itself. Errors answer as
    FastAPI's would (``{"detail": ...}``); the route stays for the OpenAPI page."""

    def __init__(self, app: ASGIApp, service: Service, route: object) -> None:
        self.app = app
        self.service = service
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = None
        if scope["type"] == "http" and scope["method"] == "GET":
            found = LIST_PATH.fullmatch(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # the metrics label, as for a routed request
        scope["path_params"] = {"user_id": found["user_id"]}
        try:
            response = list_answer(self.service, Request(scope, receive))
        except HTTPException as exc:
            response = JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        await response(scope, receive, send)


class App(FastAPI):
    """FastAPI with a front: list requests and the request metrics are handled before its own
    middleware stack (error pages, telemetry, body limits: ~15 % of a list request's CPU,
    none of which a list request needs). Every other request goes through the stack."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await (self.front or self.stack)(scope, receive, send)

    async def stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI's own handling of a request."""
        await super().__call__(scope, receive, send)


def create_app(service: Service) -> FastAPI:
    """The FastAPI app over a loaded ``Service`` (background folds start with the app)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.start()
        yield
        await service.stop()

    app = App(
        title="shopscale",
        summary="Recommendations computed at request time from a folded-forward model.",
        lifespan=lifespan,
    )
    app.state.service = service
    _add_reads(app, service)
    _add_writes(app, service)
    _add_metrics(app, service)
    route = next(r for r in app.routes if getattr(r, "path", None) == LIST_ROUTE)
    # outermost: Measure counts every call; then the list fast path; then FastAPI's stack
    app.front = Measure(ListFastPath(app.stack, service, route), service.metrics)
    return app


class Measure:
    """ASGI middleware: count and time every HTTP request by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.latency.labels(route).observe(time.perf_counter() - began)
            self.metrics.requests.labels(route, str(status)).inc()


def _add_metrics(app: FastAPI, service: Service) -> None:
    """Count and time every request by route; GET /metrics and /health."""
    m = service.metrics

    @app.get("/metrics", response_class=Response, summary="Prometheus metrics (text format)")
    async def metrics() -> Response:
        m.model_age.set(time.time() - service.served.loaded_at)
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/health", response_model=schemas.Health, summary="Whether the server answers")
    async def health() -> schemas.Health:
        s = service.served
        return schemas.Health(
            status="ok",
            version=s.version.name,
            users=len(s.users),
            items=len(s.items),
            folds=service.folds,
            checkpoint=s.checkpoint,
            wal_position=service.wal.end,
            unfolded_events=service.overlay.size,
            model_age_s=time.time() - s.loaded_at,
        )


def _add_reads(app: FastAPI, service: Service) -> None:
    """GET recommendations and similar items."""

    @app.get(LIST_ROUTE, response_model=schemas.Recommendations, openapi_extra=LIST_DOCS)
    async def recommendations(request: Request) -> Response:
        """The user's list now: model plus their posted events; unknown users get the
        popular backfill. Any other query parameter filters on an item attribute.
        (Requests are answered by ``ListFastPath`` with the same ``list_answer``; this
        route documents the call and answers what the fast path does not match.)"""
        return list_answer(service, request)

    @app.get("/items/{item_id}/similar", response_model=schemas.Similar)
    async def similar(
        item_id: Id,
        n: Annotated[int, Query(ge=1, le=1000)] = 20,
        action: str | None = None,
    ) -> schemas.Similar:
        """The item's indicators for one action (default: the primary action)."""
        served = service.served
        code = code_of(served.items, item_id)
        if code < 0:
            raise HTTPException(404, f"unknown item {item_id!r}")
        params = served.state.params
        wanted = action or (params.primary if params.similarity == "llr" else "any")
        rows = served.similar.slice(
            served.similar_ptr[code], served.similar_ptr[code + 1] - served.similar_ptr[code]
        ).to_pylist()
        mine = [r for r in rows if r["action"] == wanted][:n]
        return schemas.Similar(
            item_id=item_id,
            action=wanted,
            items=[
                schemas.SimilarItem(item_id=r["similar_item_id"], rank=r["rank"], score=r["score"])
                for r in mine
            ],
        )


async def _body(request: Request, limit: int) -> Any:
    """The request's JSON body, at most ``limit`` bytes (413 beyond, 422 if not JSON)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"request body over {limit} bytes")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise HTTPException(422, f"request body is not JSON: {exc}") from None


EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "user_id": {"type": "string"},
                            "action": {"type": "string"},
                            "item_id": {"type": "string"},
                            "timestamp": {"type": ["integer", "string"]},
                        },
                    },
                },
                "example": [
                    {"user_id": "42", "action": "carted", "item_id": "77", "timestamp": 1764590000}
                ],
            }
        },
    }
}


def _add_writes(app: FastAPI, service: Service) -> None:
    """POST events, PUT item attributes, POST a fold."""
    config = service.config

    @app.post("/events", response_model=schemas.EventsAccepted, openapi_extra=EVENTS_BODY)
    async def post_events(request: Request) -> Any:
        """Validate each event like a file row; log and fsync the good ones, then answer.
        All bad: 422 with each index and reason."""
        records = await _body(request, config.max_body_bytes)
        if not isinstance(records, list) or not records:
            raise HTTPException(422, "the body must be a non-empty JSON list of events")
        if len(records) > config.max_events:
            raise HTTPException(413, f"at most {config.max_events} events per request")
        good, bad = service.check(records)
        service.metrics.rejected.inc(len(bad))
        rejected = [schemas.Rejected(index=k, reason=r) for k, r in bad]
        if not good:
            return JSONResponse(
                status_code=422, content={"detail": [r.model_dump() for r in rejected]}
            )
        position = await service.post(good)
        return schemas.EventsAccepted(accepted=len(good), rejected=rejected, wal_position=position)

    @app.put("/items/{item_id}", response_model=schemas.ItemAttributes)
    async def put_item(item_id: Id, request: Request) -> schemas.ItemAttributes:
        """Set item attributes (JSON object of scalars); ``in_stock: false`` drops the item
        from every list at once."""
        attrs = await _body(request, config.max_body_bytes)
        if not isinstance(attrs, dict) or not all(
            isinstance(v, str | int | float | bool) and len(text(v)) <= MAX_ID_LENGTH
            for v in attrs.values()
        ):
            raise HTTPException(422, "the body must be a JSON object of short scalar values")
        bad = [k for k in attrs if k in QUERY_NAMES or k == "item_id" or not k]
        if bad:
            raise HTTPException(422, f"{bad[0]!r} cannot be an item attribute")
        code = code_of(service.served.items, item_id)
        return schemas.ItemAttributes(
            item_id=item_id, attributes=service.catalogue.put(item_id, attrs, code)
        )

    @app.post("/admin/fold", response_model=schemas.Folded)
    async def fold() -> schemas.Folded:
        """Fold every acknowledged event now (as the background fold does) and swap."""
        try:
            folded = await service.fold()
        except Exception as exc:
            service.metrics.fold_failures.inc()
            await service.recover()
            raise HTTPException(500, f"fold failed: {exc}") from None
        s = service.served
        return schemas.Folded(folded=folded, checkpoint=s.checkpoint, version=s.version.name)
