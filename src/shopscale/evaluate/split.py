"""Train/test splits, the validation split carved from train, and the two tasks.

Splits (``--split``):

- ``time:F`` (global temporal): the cut is the time before which a share F of all events
  happened; train = events before the cut, test = primary events at or after it.
- ``leave-last-out``: per user, the last primary event is the test; train keeps every other
  user's events and this user's events strictly before it.
- ``holdout:F`` (for logs without timestamps): per user, ceil(F * n) of the n distinct items
  with a primary event, chosen at random (fixed seed), are the test; their primary events leave
  train, other actions on them stay (a cart before a purchase is what a shop sees).

The validation split applies the same rule to the training events (another seed), so
settings are chosen without ever looking at the test.

Tasks: **next purchase** = held-out primary items the user had not bought in train; nothing
they bought is a candidate. **Discovery** = held-out primary items the user never touched in
train; nothing they touched is a candidate. Test users are users with at least one training
event and a non-empty truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from shopscale.config import check_fields
from shopscale.errors import ConfigError, InputError
from shopscale.evaluate.data import Interactions, TrainData
from shopscale.evaluate.metrics import Truth

SplitKind = Literal["time", "leave-last-out", "holdout"]
Task = Literal["next-purchase", "discovery"]
TASKS: tuple[Task, ...] = ("next-purchase", "discovery")
ExcludeRule = Literal["primary", "any"]
RULE_OF_TASK: dict[str, ExcludeRule] = {"next-purchase": "primary", "discovery": "any"}


@dataclass(frozen=True)
class SplitParams:
    """Which split: ``kind``, its ``fraction`` (time: share in train; holdout: share held out)."""

    kind: SplitKind = "time"
    fraction: float = 0.9
    seed: int = 42

    def __post_init__(self) -> None:
        check_fields(self)  # types, Literal choices, finite floats, 64-bit ints
        if self.seed < 0:
            raise ValueError(f"seed must not be negative, got {self.seed}")
        if not 0.0 < self.fraction < 1.0:
            raise ValueError(f"split fraction must be in (0, 1), got {self.fraction}")

    @property
    def label(self) -> str:
        """The ``--split`` spelling."""
        return self.kind if self.kind == "leave-last-out" else f"{self.kind}:{self.fraction:g}"


def parse_split(spec: str, *, seed: int = 42) -> SplitParams:
    """``time:0.9`` | ``leave-last-out`` | ``holdout:0.2`` -> SplitParams."""
    kind, _, frac = spec.strip().partition(":")
    defaults = {"time": 0.9, "holdout": 0.2, "leave-last-out": 0.5}
    if kind not in defaults:
        raise ConfigError(
            "command line", "--split", f"expected time:F, leave-last-out or holdout:F, got {spec!r}"
        )
    try:
        fraction = float(frac) if frac else defaults[kind]
        return SplitParams(kind, fraction, seed)  # type: ignore[arg-type]
    except ValueError as exc:
        flag = "--seed" if str(exc).startswith("seed") else "--split"
        raise ConfigError("command line", flag, str(exc)) from None


@dataclass(frozen=True)
class Split:
    """Training events and held-out primary (user, item) pairs (distinct)."""

    train: Interactions
    test_user: npt.NDArray[np.int64]
    test_item: npt.NDArray[np.int64]


def _pairs(user: npt.NDArray, item: npt.NDArray) -> tuple[npt.NDArray, npt.NDArray]:
    """Distinct (user, item) pairs as int64 arrays, sorted."""
    if user.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs = np.unique(np.stack([user.astype(np.int64), item.astype(np.int64)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _need_time(data: Interactions, params: SplitParams) -> None:
    if not data.has_time:
        raise InputError(
            None,
            f"split {params.label!r} needs timestamps and this log has none "
            "(file order is not time order); use --split holdout:0.2",
        )


def split_events(data: Interactions, params: SplitParams, primary: str) -> Split:
    """Apply the split ``params`` to ``data`` with ``primary`` as the held-out action."""
    p = data.code(primary)
    if p < 0:
        raise InputError(
            None, f"primary action {primary!r} does not occur (actions: {', '.join(data.actions)})"
        )
    if params.kind == "time":
        _need_time(data, params)
        cut = np.sort(data.t)[min(len(data) - 1, math.floor(params.fraction * len(data)))]
        test = (data.t >= cut) & (data.action == p)
        return Split(data.subset(data.t < cut), *_pairs(data.user[test], data.item[test]))
    if params.kind == "leave-last-out":
        _need_time(data, params)
        return _leave_last_out(data, p)
    return _holdout(data, p, params)


def _leave_last_out(data: Interactions, p: int) -> Split:
    """Each user's last primary event (events are in time order) is the test."""
    rows = np.flatnonzero(data.action == p)
    users = data.user[rows]
    last = np.full(data.n_users, -1, dtype=np.int64)
    np.maximum.at(last, users, rows)
    held = last[last >= 0]
    cut_row = np.where(last >= 0, last, len(data))
    cut_time = np.where(last >= 0, data.t[np.maximum(last, 0)], np.iinfo(np.int64).max)
    keep = (np.arange(len(data)) < cut_row[data.user]) & (data.t < cut_time[data.user])
    return Split(data.subset(keep), *_pairs(data.user[held], data.item[held]))


def _holdout(data: Interactions, p: int, params: SplitParams) -> Split:
    """ceil(fraction * n) random distinct primary items per user are the test."""
    mask = data.action == p
    user, item = _pairs(data.user[mask], data.item[mask])
    rng = np.random.default_rng(params.seed)
    order = np.lexsort((rng.random(user.size), user))
    starts = np.flatnonzero(np.r_[True, user[order][1:] != user[order][:-1]])
    sizes = np.diff(np.r_[starts, user.size])
    rank = np.arange(user.size) - np.repeat(starts, sizes)
    n_out = np.ceil(params.fraction * np.repeat(sizes, sizes) - 1e-9).astype(np.int64)
    held = order[rank < n_out]
    width = data.n_items
    held_keys = user[held] * width + item[held]
    keys = data.user.astype(np.int64) * width + data.item
    drop = mask & np.isin(keys, held_keys)
    return Split(data.subset(~drop), user[held], item[held])


def validation_split(split: Split, params: SplitParams, primary: str) -> Split:
    """The same rule applied to the training events, with another seed."""
    return split_events(split.train, replace(params, seed=params.seed + 1), primary)


@dataclass(frozen=True)
class EvalTask:
    """One task on one split: who is tested, on what, and what must never be listed."""

    name: Task
    rule: ExcludeRule
    truth: Truth
    exclude: sp.csr_matrix
    """Users x items the user may not be recommended (bought, or touched, in train)."""


def make_task(split: Split, train: TrainData, task: Task) -> EvalTask:
    """Truth without excluded items, for users who have training events."""
    rule = RULE_OF_TASK[task]
    exclude = train.binary(train.primary if rule == "primary" else None)
    seen = exclude[split.test_user, split.test_item].A1 > 0 if split.test_user.size else []
    active = np.diff(train.binary().indptr) > 0
    keep = ~np.asarray(seen, dtype=bool) & active[split.test_user]
    return EvalTask(task, rule, Truth(split.test_user[keep], split.test_item[keep]), exclude)


def require_users(
    tasks: dict[str, EvalTask], split: Split, params: SplitParams, primary: str, part: str
) -> None:
    """Stop with the reason when a task of ``split`` has no user to test (``part``: test or
    validation): every metric would be 0 and a "best" setting would be a coin toss."""
    for name, task in tasks.items():
        if task.truth.users.size:
            continue
        held = int(np.unique(split.test_user).size)
        if held == 0:
            why = f"no {primary!r} event falls in its held-out part"
        else:
            what = "bought" if task.rule == "primary" else "touched"
            why = (
                f"each of the {held:,} users with a held-out {primary!r} event has no "
                f"training events or {what} every held-out item already in train"
            )
        raise InputError(
            None,
            f"the split {params.label} left no {part} users for {name}: {why} "
            "(try another --split or a longer log)",
        )
