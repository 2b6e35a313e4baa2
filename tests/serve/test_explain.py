"""GET /users/{id}/recommendations?explain=true on a real ``shopscale serve``: the same list
as the default answer, each score the exact sum of its terms, the same breakdown as
``shopscale show --explain``, and posted events explained as they count."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from shopscale.cli._explain import explain_rows
from shopscale.recommend.params import RecommendParams
from shopscale.serve.folder import current_version
from tests.serve.conftest import EVENTS, T0, Server, build_model, served_list

DECAYED = RecommendParams(n=5, half_life_days=0.0002, half_life_events=3.0, unprompted_weight=0)
"""Every decay on: times span seconds, so a 17-second half-life and a 3-entry one matter."""


@pytest.fixture
def decayed_server(tmp_path: Path) -> Iterator[Server]:
    """A server over a model of ``EVENTS`` with time and sequence decay, no background folds."""
    srv = Server(build_model(tmp_path / "shop", EVENTS, DECAYED), "--fold-every", "0")
    yield srv
    srv.stop()


def _explained(server: Server, user: str) -> list[dict]:  # type: ignore[type-arg]
    """The explained list of a user (status 200 asserted)."""
    r = server.client.get(f"/users/{user}/recommendations", params={"explain": "true"})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _in_order(values: list[float]) -> float:
    """The values added one by one from 0, as the rank kernel adds them."""
    acc = 0.0
    for v in values:
        acc += v
    return acc


def test_explained_list_is_the_list_and_adds_up(decayed_server: Server) -> None:
    """For every user (and a stranger), ?explain=true lists exactly the default answer's
    entries, each model score is its terms added in order, bit for bit, and backfill has none."""
    for user in [*sorted({u for u, _, _, _ in EVENTS}), "nobody"]:
        items = _explained(decayed_server, user)
        plain = served_list(decayed_server.client, user)
        assert [(e["item_id"], e["score"], e["source"]) for e in items] == plain
        for e in items:
            values = [t["value"] for t in e["terms"]]
            if e["source"] == "backfill":
                assert (values, e["reason"]) == ([], "backfill")
            else:
                assert _in_order(values) == e["score"] > 0
                assert abs(sum(t["share"] for t in e["terms"]) - 1.0) < 1e-9


def test_server_and_show_explain_agree(decayed_server: Server, tmp_path: Path) -> None:
    """Before any event is posted, the server's breakdown of every user's list is the one
    ``show --explain`` computes from the published version: same terms, same values."""
    version = current_version(tmp_path / "shop" / "recs")
    rows = pq.read_table(version / "recommendations.parquet").to_pylist()
    for user in sorted({u for u, _, _, _ in EVENTS}):
        mine = [tuple(r.values()) for r in rows if r["user_id"] == user]
        shown = explain_rows(version, user, mine)
        served = _explained(decayed_server, user)
        assert [
            (e.item_id, e.reason, [(t.kind, t.action, t.item_id, t.value) for t in e.terms])
            for e in shown
        ] == [
            (
                e["item_id"],
                e["reason"],
                [(t["kind"], t["action"], t["item_id"], t["value"]) for t in e["terms"]],
            )
            for e in served
        ]


def test_posted_engagement_is_explained_as_own(decayed_server: Server) -> None:
    """An item a stranger carts (posted, not folded) is listed because of that carting: its
    first term is their own carting of it, and the list still adds up."""
    c = decayed_server.client
    r = c.post(
        "/events",
        json=[{"user_id": "u99", "action": "carted", "item_id": "sock", "timestamp": T0 + 500}],
    )
    assert r.status_code == 200, r.text
    items = {e["item_id"]: e for e in _explained(decayed_server, "u99")}
    sock = items["sock"]
    assert sock["reason"] == "own"
    assert (sock["terms"][0]["kind"], sock["terms"][0]["action"], sock["terms"][0]["item_id"]) == (
        "own",
        "carted",
        "sock",
    )
    assert _in_order([t["value"] for t in sock["terms"]]) == sock["score"]


def test_a_user_without_history_is_explained_as_backfill(decayed_server: Server) -> None:
    """A user the model does not know gets the popular backfill, explained with no terms."""
    items = _explained(decayed_server, "nobody-at-all")
    assert items and {i["source"] for i in items} == {"backfill"}
