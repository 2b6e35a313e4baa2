"""Slow, obviously correct reference implementations that engine tests compare against."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from shopscale.recommend.llr import indicator_scores
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.ranking import (
    SECONDS_PER_DAY,
    reference_top_n,
    self_conversion,
    unprompted_prior,
)

Event = tuple[str, str, str, int]  # user_id, action, item_id, t


def downsample(events: Iterable[Event], k: int) -> dict[tuple[str, str], dict[str, int]]:
    """Per (user, action): the k most recent distinct items with their latest time."""
    latest: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for u, a, i, t in events:
        seen = latest[(u, a)]
        seen[i] = max(t, seen.get(i, t))
    return {
        key: dict(sorted(items.items(), key=lambda p: (-p[1], p[0]))[:k])
        for key, items in latest.items()
    }


def reference_model(
    events: list[Event], params: RecommendParams
) -> tuple[dict[str, list[tuple[str, float, str]]], dict[tuple[str, str], list[tuple[str, float]]]]:
    """Recommendations per user and similar items per (item, action), computed naively."""
    hist = downsample(events, params.max_items_per_user)
    users = sorted({u for u, _ in hist})
    actions = sorted({a for _, a in hist})
    n = len(users)
    by_action: dict[str, dict[str, set[str]]] = {a: defaultdict(set) for a in actions}
    for (u, a), items in hist.items():
        for i in items:
            by_action[a][i].add(u)
    primary = by_action.get(params.primary, {})
    channels = [a for a in actions if not params.indicators or a in params.indicators]
    similar: dict[tuple[str, str], list[tuple[str, float]]] = {}
    votes: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)  # (j, a) -> {i: vote}
    for a in channels:
        for i, pu in primary.items():
            cands = []
            for j, au in by_action[a].items():
                k11 = len(pu & au)
                if k11 == 0 or (i == j and (a == params.primary or params.self_weight > 0)):
                    continue
                s = float(indicator_scores([k11], [len(pu)], [len(au)], n)[0])
                if s > 0:
                    cands.append((j, s, _vote(params.vote, s, k11 / len(au))))
            cands.sort(key=lambda p: (-p[1], p[0]))
            if cands:
                kept = cands[: params.max_similar_per_item]
                similar[(i, a)] = [(j, s) for j, s, _ in kept]
                for j, _, v in kept:
                    votes[(j, a)][i] = v
    self_votes = _self_votes(by_action, primary, channels, params)
    t_ref = max(t for _, _, _, t in events)
    pop_p = {i: len(us) for i, us in primary.items()}
    pop_any: dict[str, set[str]] = defaultdict(set)
    for (u, _a), items in hist.items():
        for i in items:
            pop_any[i].add(u)
    items_all = sorted(pop_any)
    popular = sorted(items_all, key=lambda i: (-pop_p.get(i, 0), -len(pop_any[i]), i))
    code = {i: c for c, i in enumerate(items_all)}
    prior = _prior(hist, primary, channels, items_all, n, params)
    recs = {}
    for u in users:
        scores: dict[int, float] = defaultdict(float)
        for c, value in enumerate(prior):  # the kernel adds the prior before any vote
            if value > 0:
                scores[c] += value
        _accumulate(scores, channels, hist, u, votes, self_votes, params, t_ref, code)
        if params.repeats == "count":
            _repeat_votes(scores, channels, hist, u, self_votes, params, t_ref, code, events)
        excluded = _excluded(events, u, params, code)
        top = reference_top_n(
            scores, excluded, [code[i] for i in popular], params.n, params.backfill
        )
        recs[u] = [(items_all[i], s, src) for i, s, src in top]
    return recs, similar


def _vote(kind: str, llr: float, p_i_given_j: float) -> float:
    """What a kept pair votes with, written out: LLR, P(i | j), or their geometric mean."""
    return {"llr": llr, "conditional": p_i_given_j, "geometric": (llr * p_i_given_j) ** 0.5}[kind]


def _prior(hist, primary, channels, items_all, n, params) -> list[float]:  # type: ignore[no-untyped-def]
    """Unprompted-purchase prior per item code: buyers of i who did no other indicator
    action on i, counted one by one."""
    other = [a for a in channels if a != params.primary]
    unprompted = [
        sum(1 for u in primary.get(i, set()) if not any(i in hist.get((u, a), {}) for a in other))
        for i in items_all
    ]
    buyers = [len(primary.get(i, set())) for i in items_all]
    prior = unprompted_prior(
        unprompted, buyers, n, params.unprompted_weight, params.max_similar_per_item
    )
    return [float(v) for v in prior]


def _self_votes(by_action, primary, channels, params) -> dict[tuple[str, str], float]:  # type: ignore[no-untyped-def]
    """(action, item) -> self_weight * smoothed conversion rate, for non-primary actions."""
    out: dict[tuple[str, str], float] = {}
    if params.self_weight <= 0:
        return out
    for a in channels:
        if a == params.primary:
            continue
        items = sorted(by_action[a])
        k = np.array([len(by_action[a][i] & primary.get(i, set())) for i in items])
        n = np.array([len(by_action[a][i]) for i in items])
        rates = self_conversion(k, n, params.self_prior)
        for i, r in zip(items, rates, strict=True):
            if r > 0:
                out[(a, i)] = params.self_weight * float(r)
    return out


def _weight(a, t, times, params, t_ref) -> float:  # type: ignore[no-untyped-def]
    """A history entry's weight: action weight x time decay x sequence decay."""
    w = params.weight(a)
    if params.half_life_days:
        age = max(t_ref - t, 0) / SECONDS_PER_DAY
        w *= float(np.power(0.5, age / params.half_life_days))
    if params.half_life_events:
        newer = sum(1 for other in times if other > t)
        w *= float(np.power(0.5, newer / params.half_life_events))
    return w


def _repeat_votes(scores, channels, hist, u, self_votes, params, t_ref, code, events) -> None:  # type: ignore[no-untyped-def]
    """``repeats = "count"``: each kept entry's self vote again for each of its events after
    the first (events counted over the whole log), after every other vote."""
    times = [t for a in channels for t in hist.get((u, a), {}).values()]
    for a in channels:
        for j, t in sorted(hist.get((u, a), {}).items()):
            events_of = sum(1 for uu, aa, ii, _ in events if (uu, aa, ii) == (u, a, j))
            if (a, j) in self_votes and events_of > 1:
                w = _weight(a, t, times, params, t_ref)
                scores[code[j]] += w * (events_of - 1) * self_votes[(a, j)]


def _accumulate(scores, channels, hist, u, votes_of, self_votes, params, t_ref, code) -> None:  # type: ignore[no-untyped-def]
    """Sum votes in the kernel's order (channel, then history item, then candidate) for ties."""
    times = [t for a in channels for t in hist.get((u, a), {}).values()]
    for a in channels:
        for j, t in sorted(hist.get((u, a), {}).items()):
            w = _weight(a, t, times, params, t_ref)
            votes = dict(votes_of.get((j, a), {}))
            if (a, j) in self_votes:
                votes[j] = self_votes[(a, j)]
            for i in sorted(votes):
                scores[code[i]] += w * votes[i]


def _excluded(events, u, params, code) -> set[int]:  # type: ignore[no-untyped-def]
    """Item codes the user must not be recommended, from every event (downsampling or not)."""
    if params.exclude == "none":
        return set()
    return {
        code[i]
        for uu, a, i, _ in events
        if uu == u and i in code and (params.exclude == "any" or a == params.primary)
    }
