"""Hypothesis strategies shared by the tests: small event logs with lots of overlap."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from shopscale.recommend.params import RecommendParams

ACTIONS = ("carted", "purchased", "viewed")
Event = tuple[str, str, str, int]


@st.composite
def event_logs(
    draw: st.DrawFn, max_events: int = 60, max_time: int = 50
) -> list[tuple[str, str, str, int]]:
    """Small logs over few users/items so pairs co-occur, ties happen and backfill is needed
    (a small ``max_time`` makes equal times, and so the tie rules, common)."""
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(1, 9))
    users = [f"u{k}" for k in range(n_users)]
    items = [f"i{k:02d}" for k in range(n_items)]
    event = st.tuples(
        st.sampled_from(users),
        st.sampled_from(ACTIONS),
        st.sampled_from(items),
        st.integers(0, max_time),
    )
    events = draw(st.lists(event, min_size=1, max_size=max_events))
    if not any(a == "purchased" for _, a, _, _ in events):
        u, _, i, t = events[0]
        events.append((u, "purchased", i, t))
    return events


@st.composite
def logs_with_addon(draw: st.DrawFn) -> list[tuple[str, str, str, int]]:
    """A small log plus up to 14 extra users who view and buy one item and also buy an add-on
    without viewing or carting it: the unprompted-purchase prior is significant in some draws
    and not in others."""
    events = draw(event_logs())
    n_extra = draw(st.integers(0, 14))
    t = draw(st.integers(0, 50))
    for k in range(n_extra):
        events.append((f"w{k:02d}", "viewed", "i00", t))
        events.append((f"w{k:02d}", "purchased", "i00", t))
        events.append((f"w{k:02d}", "purchased", "zz", t))
    return events


T0 = 1_700_000_000
"""Epoch seconds of time 0 in the small logs: a plausible time (the reader rejects 1970)."""


def write_events_csv(path, events) -> None:  # type: ignore[no-untyped-def]
    """Write events as a CSV with a header; times are seconds after ``T0`` (decay only sees
    differences, so results are those of the times as given)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("user_id,action,item_id,timestamp\n")
        for u, a, i, t in events:
            fh.write(f"{u},{a},{i},{T0 + t}\n")


@st.composite
def split_logs(draw: st.DrawFn) -> list[list[Event]]:
    """A log cut at random points into a first part (with a purchase, so LLR can learn) and
    one to three increments; later parts bring new users and items and old times too."""
    max_time = draw(st.sampled_from([2, 50]))
    events = draw(st.one_of(event_logs(max_time=max_time), logs_with_addon()))
    first_buy = next(k for k, e in enumerate(events) if e[1] == "purchased")
    assume(len(events) > first_buy + 1)
    points = st.integers(first_buy + 1, len(events) - 1)
    cuts = sorted(draw(st.lists(points, min_size=1, max_size=3, unique=True)))
    bounds = [0, *cuts, len(events)]
    return [events[a:b] for a, b in itertools.pairwise(bounds)]


def recommend_params(**knobs: Any) -> st.SearchStrategy[RecommendParams]:
    """Random settings over every knob the exactness properties vary (caps, list length,
    decays, exclusions, weights, shards, self votes, votes, the prior); ``knobs`` replace or
    add a knob's strategy (a property that needs every decay on, say, narrows those)."""
    base: dict[str, st.SearchStrategy[Any]] = {
        "max_items_per_user": st.integers(1, 6),
        "max_similar_per_item": st.integers(1, 4),
        "n": st.integers(1, 5),
        "half_life_days": st.sampled_from([None, 0.0, 0.0001]),
        "half_life_events": st.sampled_from([None, 0.0, 1.0, 2.5]),
        "exclude": st.sampled_from(["primary", "any", "none"]),
        "weights": st.sampled_from([{}, {"viewed": 0.5, "carted": 2.0}]),
        "users_per_shard": st.integers(1, 3),
        "self_weight": st.sampled_from([0.0, 1e6, 2.5]),
        "self_prior": st.sampled_from([0.0, 3.0, 100.0]),
        "vote": st.sampled_from(["llr", "geometric", "conditional"]),
        "unprompted_weight": st.sampled_from([0.0, 2.5, 1e5]),
        "repeats": st.sampled_from(["once", "count"]),
    }
    return st.builds(RecommendParams, **{**base, **knobs})
