"""The HTTP API against a real ``shopscale serve`` subprocess: bad events are refused by
index, acknowledged events show on the next GET, filters and PUT /items, health, metrics."""

from __future__ import annotations

from tests.serve.conftest import T0, Server, served_list


def test_all_bad_events_get_422_naming_each_index(server: Server) -> None:
    """A batch whose events are all bad is refused with 422, each index and reason named,
    and nothing is logged."""
    r = server.client.post(
        "/events",
        json=[
            {"user_id": "", "action": "viewed", "item_id": "shoe", "timestamp": T0 + 200},
            "not an object",
            {"user_id": "u01", "action": "viewed", "item_id": "shoe", "timestamp": "soon"},
            {"user_id": "u01", "action": "viewed", "item_id": "x" * 300, "timestamp": T0 + 200},
        ],
    )
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"index": 0, "reason": "empty user_id"},
        {"index": 1, "reason": "JSON line is not an object"},
        {"index": 2, "reason": "unparsable timestamp 'soon'"},
        {"index": 3, "reason": "item_id is 300 characters long (at most 256)"},
    ]
    assert server.client.get("/health").json()["wal_position"] == 0


def test_mixed_batch_accepts_the_good_events_and_lists_the_rest(server: Server) -> None:
    """In a mixed batch the good events are acknowledged (logged) and the bad ones listed."""
    r = server.client.post(
        "/events",
        json=[
            {"user_id": "u01", "action": "viewed", "item_id": "hat", "timestamp": T0 + 300},
            {"user_id": "u01", "action": "viewed", "item_id": "", "timestamp": T0 + 300},
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 1
    assert body["rejected"] == [{"index": 1, "reason": "empty item_id"}]
    health = server.client.get("/health").json()
    assert health["wal_position"] == body["wal_position"] > 0
    assert health["unfolded_events"] == 1


def test_posted_events_change_the_next_list(server: Server) -> None:
    """A purchased item leaves the user's very next list; a carted item's neighbours rise."""
    c = server.client
    before = served_list(c, "u00")
    bought = before[0][0]
    r = c.post(
        "/events",
        json=[{"user_id": "u00", "action": "purchased", "item_id": bought, "timestamp": T0 + 500}],
    )
    assert r.status_code == 200
    assert bought not in [item for item, _, _ in served_list(c, "u00")]
    stranger = served_list(c, "u99")
    assert all(source == "backfill" or item != "shoe" for item, _, source in stranger)
    r = c.post(
        "/events",
        json=[{"user_id": "u99", "action": "carted", "item_id": "shoe", "timestamp": T0 + 501}],
    )
    assert r.status_code == 200
    after = {item: score for item, score, source in served_list(c, "u99") if source == "model"}
    was = {item: score for item, score, source in stranger if source == "model"}
    similar = [
        e["item_id"]
        for e in c.get("/items/shoe/similar", params={"action": "carted"}).json()["items"]
    ]
    assert similar, "shoe has indicators"
    assert any(after.get(item, 0.0) > was.get(item, 0.0) for item in similar)


def test_filters_and_item_updates(server: Server) -> None:
    """Attribute filters keep matching items only, an out-of-stock item is never listed, and
    PUT in_stock=false drops an item from every list at once."""
    c = server.client
    users = [f"u{k:02d}" for k in range(12)] + ["u99", "nobody"]
    for user in users:
        listed = [item for item, _, _ in served_list(c, user)]
        assert "belt" not in listed  # out of stock in items.csv
        shoes = [item for item, _, _ in served_list(c, user, category="shoes")]
        assert set(shoes) <= {"shoe", "lace"}
    assert c.get("/users/u00/recommendations", params={"colour": "red"}).status_code == 422
    r = c.put("/items/shoe", json={"in_stock": False})
    assert r.status_code == 200
    assert r.json()["attributes"] == {"category": "shoes", "in_stock": "false"}
    for user in users:
        assert "shoe" not in [item for item, _, _ in served_list(c, user)]
    excluded = served_list(c, "nobody", exclude=["sock"])
    assert excluded and "sock" not in [item for item, _, _ in excluded]


def test_unknown_user_gets_popular_backfill(server: Server) -> None:
    """A user the model does not know gets the popular items, marked backfill."""
    r = server.client.get("/users/nobody/recommendations", params={"n": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["known"] is False
    assert [e["source"] for e in body["items"]] == ["backfill"] * 3


def test_limits(server: Server) -> None:
    """An oversized body is refused with 413, an overlong id in the path with 422."""
    c = server.client
    huge = [{"user_id": "u", "action": "viewed", "item_id": "i" * 200, "timestamp": T0 + 1}] * 6000
    assert c.post("/events", json=huge).status_code == 413
    assert c.get(f"/users/{'u' * 300}/recommendations").status_code == 422
    assert c.post("/events", content=b"{not json").status_code == 422


def test_list_query_is_checked(server: Server) -> None:
    """A list request with n outside 1..1000 or not a number is refused with 422 naming n;
    a valid n sets the length and every repeated exclude is honoured."""
    c = server.client
    for bad in ("0", "1001", "abc", "-3", "2.5"):
        r = c.get("/users/nobody/recommendations", params={"n": bad})
        assert r.status_code == 422 and "n must be" in r.json()["detail"], (bad, r.text)
    full = [item for item, _, _ in served_list(c, "nobody", n=4)]
    assert len(full) == 4
    fewer = [item for item, _, _ in served_list(c, "nobody", n=4, exclude=full[:2])]
    assert fewer[:2] == full[2:] and not set(fewer) & set(full[:2])


def test_health_and_metrics(server: Server) -> None:
    """/health names the model served; /metrics counts requests, events and folds."""
    c = server.client
    assert c.get("/health").json()["status"] == "ok"
    served_list(c, "u01")
    c.post(
        "/events",
        json=[
            {"user_id": "u01", "action": "viewed", "item_id": "hat", "timestamp": T0 + 400},
            {"user_id": ""},
        ],
    )
    assert c.post("/admin/fold").json()["folded"] == 1
    text = c.get("/metrics").text
    for line in (
        'shopscale_requests_total{route="/users/{user_id}/recommendations",status="200"} 1.0',
        "shopscale_events_accepted_total 1.0",
        "shopscale_events_rejected_total 1.0",
        "shopscale_events_folded_total 1.0",
        "shopscale_folds_total 1.0",
        "shopscale_fold_seconds_count 1.0",
    ):
        assert line in text, line
    assert "shopscale_request_seconds_bucket" in text
    assert "shopscale_model_age_seconds" in text
    assert c.get("/docs").status_code == 200
