"""Why an item is in a user's list: the terms of its score, as the rank stage added them.

A user's score of candidate i is built by the rank kernel (``engine/local/kernels.py``) in one
fixed order: it starts at the item's unprompted-purchase prior, then, for every history entry
j of the user in (block, item) order whose weight is positive, adds
``weight(j) * vote(j -> i)`` for each entry of row j of the vote matrix that names i. A vote
from the entry of item i itself (with self votes on) is the user's own engagement; with
``repeats``, so is the vote of its repeat entry (block ``len(channels) + c``: its events
after the first, one more term of the same action and item).

``explain`` repeats exactly those additions, one term each, so the terms, added in the order
they are listed, give the very float the ranker wrote (not merely a close one: the same
products added in the same order round the same way; numba compiles the kernel without
fast-math, so it neither fuses the multiply-add nor reorders the sum). The history weights
come from the ranking rules themselves (``history_weights``: channel weight x
``ranking.decay_weights`` x ``ranking.sequence_weights``, as ``LocalEngine._history`` weighs
a shard).

Readable scores: the stored score stays the ranking key (own engagement weighs 1e6, the prior
1e5, a similar item's vote 1-50), so lists and every exactness property are unchanged. Each
explained item also gets a ``reason``, the kind of its largest part, and a ``tier_score``,
that part in the kind's own unit, comparable across users: own engagement divided by
``self_weight`` (the sum of action weight x decay x conversion rate), the prior divided by
``unprompted_weight`` (excess unprompted buyers per user), similar-item votes as they are.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from shopscale.recommend.model import History, ModelState
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.rules import history_entries

Kind = Literal["own", "prior", "similar"]
KINDS: tuple[Kind, ...] = ("own", "prior", "similar")
"""Term kinds, in the order ties between parts are broken (the order of their weights)."""
CSR = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class Term:
    """One addition to a score: the prior, or one history entry's vote."""

    kind: Kind
    action: str | None
    """The history entry's action (None for the prior)."""
    item_id: str | None
    """The history item that voted (the item itself for own engagement; None for the prior)."""
    value: float
    share: float
    """``value / score``: the shares of an item's terms add up to 1."""


@dataclass(frozen=True)
class Explanation:
    """One list entry and the terms of its score."""

    item_id: str
    rank: int
    score: float
    """The terms added in order (prior first, then history entries): the ranker's float."""
    source: str
    """``model`` or ``backfill`` (backfill entries score 0 and have no terms)."""
    reason: str
    """``own``, ``prior`` or ``similar``: the kind of the largest part; or ``backfill``."""
    tier_score: float
    """The largest part in its kind's unit (module docstring); 0 for backfill."""
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Model:
    """What the rank stage reads besides a user's history, in string-order item codes."""

    votes: CSR
    """(block * items) x items: what history entry (c, j) votes for i with."""
    prior: tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]
    """Items with an unprompted-purchase prior, and the prior."""
    items: Sequence[str]
    """Item id of each code."""
    channels: Sequence[str]
    params: RecommendParams


def user_rows(state: ModelState, user_id: str) -> History:
    """A user's history rows of a string-ordered state (user code 0), sorted by (action,
    item); empty for a user the model does not know."""
    users = state.users
    u = bisect.bisect_left(users, user_id, key=lambda v: v.as_py())
    h = state.history
    if u >= len(users) or users[u].as_py() != user_id:
        return h.take(slice(0, 0))
    lo, hi = np.searchsorted(h.u, [u, u + 1])
    rows = h.take(slice(lo, hi))
    return History(np.zeros(hi - lo, np.int32), rows.a, rows.i, rows.t, rows.n)


def history_weights(
    rows: History, actions: list[str], model: Model, t_ref: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """One user's history entries (``block * n_items + i``) and weights, in the rank
    kernel's order, from the user's rows of the model state: the rank stage's own
    ``rules.history_entries`` (channel weight x time decay x sequence decay, and with
    ``repeats`` the extra events' entries)."""
    _, j, w = history_entries(
        rows.u, rows.a, rows.i, rows.t,
        actions=actions, channels=list(model.channels), n_items=len(model.items),
        t_ref=t_ref, params=model.params, n=rows.n,
    )  # fmt: skip
    return j.astype(np.int32), w.astype(np.float64)


def candidate_terms(
    model: Model,
    h_idx: npt.NDArray[np.integer],
    h_val: npt.NDArray[np.floating],
    only: npt.NDArray[np.integer] | None = None,
) -> dict[int, list[tuple[Kind, int, int, float]]]:
    """Per candidate item (or per item of ``only``), its terms (kind, channel, history item,
    value) in the kernel's order of addition: the prior, then the votes of the history
    entries ``h_idx`` (weights ``h_val``) in the order given."""
    n_items = len(model.items)
    out: dict[int, list[tuple[Kind, int, int, float]]] = {}
    for item, value in zip(model.prior[0].tolist(), model.prior[1].tolist(), strict=True):
        if only is None or item in only:
            out[item] = [("prior", -1, -1, value)]
    indptr, cols, votes = model.votes
    self_on = model.params.similarity == "llr" and model.params.self_weight > 0
    n_channels = len(model.channels)
    for row, w in zip(np.asarray(h_idx).tolist(), np.asarray(h_val).tolist(), strict=True):
        if w <= 0.0:  # the kernel skips these entries
            continue
        lo, hi = int(indptr[row]), int(indptr[row + 1])
        targets, values = cols[lo:hi], w * votes[lo:hi]  # the kernel's products, bit for bit
        if only is not None:
            mask = np.isin(targets, only)
            targets, values = targets[mask], values[mask]
        c, j = divmod(row, n_items)
        c %= n_channels  # a repeat block (``rules.vote_blocks``) names its channel's action
        for i, v in zip(targets.tolist(), values.tolist(), strict=True):
            kind: Kind = "own" if self_on and i == j else "similar"
            out.setdefault(i, []).append((kind, c, j, v))
    return out


def total(terms: Sequence[tuple[Kind, int, int, float]]) -> float:
    """The terms added one by one in order, from 0, as the kernel's accumulator adds them."""
    acc = 0.0
    for term in terms:
        acc = acc + term[3]
    return acc


def explain(
    model: Model,
    h_idx: npt.NDArray[np.integer],
    h_val: npt.NDArray[np.floating],
    listed: Sequence[tuple[int, str]],
) -> list[Explanation]:
    """The explanation of each entry of a user's list (item code, source), in list order;
    ``h_idx``/``h_val``: the user's history entries and weights as the ranker read them."""
    wanted = np.array([code for code, src in listed if src != "backfill"], dtype=np.int64)
    terms = candidate_terms(model, h_idx, h_val, wanted) if wanted.size else {}
    return [
        _explain_one(model, rank, code, terms.get(code, []) if src != "backfill" else [], src)
        for rank, (code, src) in enumerate(listed, start=1)
    ]


def _explain_one(
    model: Model, rank: int, code: int, terms: list[tuple[Kind, int, int, float]], source: str
) -> Explanation:
    """One entry: its terms labelled with ids and shares, its reason and tier score."""
    score = total(terms)
    labelled = tuple(
        Term(
            kind,
            model.channels[c] if c >= 0 else None,
            model.items[j] if j >= 0 else None,
            v,
            v / score if score > 0 else 0.0,
        )
        for kind, c, j, v in terms
    )
    reason, tier = ("backfill", 0.0) if source == "backfill" else readable(terms, model.params)
    return Explanation(model.items[code], rank, score, source, reason, tier, labelled)


def readable(
    terms: Sequence[tuple[Kind, int, int, float]], params: RecommendParams
) -> tuple[Kind, float]:
    """The kind of the largest part of a score (ties in ``KINDS`` order) and that part in
    its kind's unit: own engagement / ``self_weight``, prior / ``unprompted_weight``,
    similar-item votes as they are."""
    parts = dict.fromkeys(KINDS, 0.0)
    for kind, _, _, v in terms:
        parts[kind] += v
    reason = max(KINDS, key=lambda k: (parts[k], -KINDS.index(k)))
    scale = {"own": params.self_weight, "prior": params.unprompted_weight, "similar": 1.0}
    return reason, parts[reason] / scale[reason] if scale[reason] > 0 else 0.0
