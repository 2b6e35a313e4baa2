"""Splits and tasks: what goes to train, what is held out, and what each task may list."""

from __future__ import annotations

import numpy as np
import pytest

from shopscale.errors import ConfigError, InputError
from shopscale.evaluate.data import Interactions, TrainData, from_arrays
from shopscale.evaluate.split import (
    SplitParams,
    make_task,
    parse_split,
    split_events,
    validation_split,
)

P = "purchased"
TINY = from_arrays(
    [
        ("a", "viewed", "x", 1),
        ("a", "purchased", "x", 2),
        ("b", "viewed", "y", 3),
        ("a", "carted", "z", 4),
        ("b", "purchased", "y", 5),
        ("a", "viewed", "w", 6),
        ("a", "purchased", "z", 7),
        ("b", "viewed", "x", 8),
        ("a", "purchased", "w", 9),
        ("b", "purchased", "x", 10),
    ]
)


def _ids(data: Interactions, users: np.ndarray, items: np.ndarray) -> set[tuple[str, str]]:
    return {(data.user_ids[u], data.item_ids[i]) for u, i in zip(users, items, strict=True)}


def test_parse_split_spellings() -> None:
    """time:F, holdout:F and leave-last-out parse; anything else is a ConfigError."""
    assert parse_split("time:0.8") == SplitParams("time", 0.8)
    assert parse_split("holdout:0.2", seed=7) == SplitParams("holdout", 0.2, 7)
    assert parse_split("leave-last-out").kind == "leave-last-out"
    for bad in ("random", "time:1.5", "time:x"):
        with pytest.raises(ConfigError):
            parse_split(bad)


def test_time_split_cuts_at_the_quantile() -> None:
    """time:0.7 trains on the first 7 of 10 events and tests the purchases from t=8 on."""
    split = split_events(TINY, parse_split("time:0.7"), P)
    assert len(split.train) == 7 and split.train.t.max() == 7
    assert _ids(TINY, split.test_user, split.test_item) == {("a", "w"), ("b", "x")}


def test_leave_last_out_drops_the_users_later_events() -> None:
    """Each user's last purchase is the test; their events from then on leave train."""
    split = split_events(TINY, parse_split("leave-last-out"), P)
    assert _ids(TINY, split.test_user, split.test_item) == {("a", "w"), ("b", "x")}
    assert sorted(split.train.t.tolist()) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_holdout_takes_ceil_fraction_per_user(shop: Interactions) -> None:
    """holdout:0.2 holds out ceil(0.2 n) of each buyer's n purchased items, same seed same split."""
    split = split_events(shop, parse_split("holdout:0.2"), P)
    again = split_events(shop, parse_split("holdout:0.2"), P)
    assert np.array_equal(split.test_item, again.test_item)
    bought = shop.subset(shop.action == shop.code(P))
    for u in np.unique(bought.user)[:50]:
        n = np.unique(bought.item[bought.user == u]).size
        assert (split.test_user == u).sum() == int(np.ceil(0.2 * n - 1e-9))
    train_p = split.train.subset(split.train.action == shop.code(P))
    keys = set(zip(train_p.user.tolist(), train_p.item.tolist(), strict=True))
    assert not keys & set(zip(split.test_user.tolist(), split.test_item.tolist(), strict=True))
    other = shop.action != shop.code(P)
    assert (split.train.action != shop.code(P)).sum() == other.sum()  # only purchases left


def test_validation_is_carved_from_train_only(shop: Interactions) -> None:
    """The validation split never contains a test event: its events are a subset of train."""
    params = parse_split("time:0.9")
    split = split_events(shop, params, P)
    val = validation_split(split, params, P)
    assert val.train.t.max() < split.train.t.max() + 1
    assert len(val.train) < len(split.train)
    assert val.test_user.size > 0


def test_time_splits_need_timestamps() -> None:
    """A log without timestamps refuses time and leave-last-out splits, naming holdout."""
    data = from_arrays([("a", "purchased", "x", 0)], has_time=False)
    for spec in ("time:0.9", "leave-last-out"):
        with pytest.raises(InputError, match="holdout"):
            split_events(data, parse_split(spec), P)


def test_tasks_remove_what_the_user_already_had() -> None:
    """Next purchase drops items bought in train; discovery also drops items only viewed."""
    data = from_arrays(
        [
            ("a", "purchased", "x", 1),
            ("a", "viewed", "y", 2),
            ("b", "viewed", "x", 3),
            ("a", "purchased", "x", 10),
            ("a", "purchased", "y", 11),
            ("a", "purchased", "z", 12),
            ("c", "purchased", "z", 13),
        ]
    )
    split = split_events(data, parse_split("time:0.5"), P)
    train = TrainData(split.train, P)
    nxt = make_task(split, train, "next-purchase")
    disc = make_task(split, train, "discovery")
    assert _ids(data, nxt.truth.user, nxt.truth.item) == {("a", "y"), ("a", "z")}
    assert _ids(data, disc.truth.user, disc.truth.item) == {("a", "z")}
    a = int(np.flatnonzero(data.user_ids == "a")[0])
    assert nxt.exclude[a].nnz == 1 and disc.exclude[a].nnz == 2
