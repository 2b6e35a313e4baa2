"""The contract every evaluated model follows, and the list-making rules they all share.

A model learns from ``TrainData`` only and returns ranked lists for the users it is asked
about; it never sees the truth. Every model gets the same candidate rules: the exclusion
matrix of the task (bought items for next purchase, touched items for discovery) is never
listed, and a list the model cannot fill is completed from the same popularity order, marked
as backfill. Ties are broken by item code (= id string order), as in the engines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from shopscale.evaluate.data import TrainData
from shopscale.evaluate.metrics import RankedLists
from shopscale.evaluate.split import ExcludeRule

IntArray = npt.NDArray[np.int64]
BATCH_CELLS = 20_000_000
"""Dense score blocks hold at most this many users x items cells (80 MB of float32)."""


@dataclass(frozen=True)
class Exclusion:
    """What must never be listed: the task's rule name and its users x items matrix."""

    rule: ExcludeRule
    matrix: sp.csr_matrix


class Recommender(Protocol):
    """Learns from training data, then lists up to n items for each user asked about."""

    def fit(self, train: TrainData) -> None:
        """Learn from the training events only."""

    def recommend(self, users: IntArray, exclude: Exclusion, n: int) -> RankedLists:
        """Ranked lists of length n for ``users`` (sorted), excluded items never listed."""


Search = Literal["coordinate", "random"]
"""How a tuning budget is spent: ``tune.coordinate_search`` or ``tune.grid_sample``."""
Adopt = Literal["significant", "best"]
"""What a search keeps: the best config found (``best``), or that config only if its gain
over the defaults is above 0 at 95 % over the validation users, else the defaults
(``significant``: a gain the validation split cannot tell from noise is not taken)."""


@dataclass(frozen=True)
class ModelSpec:
    """A named model: how to build it from a config, its defaults and its tuning space."""

    name: str
    make: Callable[..., Recommender]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    """Values tried by tuning (on the validation split); empty = not tuned."""
    description: str = ""
    search: Search = "random"
    """How the budget is spent on ``grid``: a fixed-seed random sample (``tune.grid_sample``)
    or a coordinate search from the defaults (``tune.coordinate_search``)."""
    adopt: Adopt = "best"
    """Whether a search keeps its best config always (baselines) or only beyond noise."""

    def build(self, config: Mapping[str, Any] | None = None) -> Recommender:
        """The model with ``defaults`` overridden by ``config``."""
        return self.make(**{**self.defaults, **(config or {})})


def backfill(
    items: IntArray,
    from_model: npt.NDArray[np.bool_],
    users: IntArray,
    exclude: sp.csr_matrix,
    popular: npt.NDArray[np.int32],
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """Fill the -1 slots of each row with popular items not excluded and not listed yet."""
    items = items.copy()
    from_model = from_model & (items >= 0)
    n = items.shape[1]
    for row in np.flatnonzero((items < 0).any(axis=1)):
        u = users[row]
        banned = set(exclude.indices[exclude.indptr[u] : exclude.indptr[u + 1]].tolist())
        have = [int(i) for i in items[row] if i >= 0]
        banned.update(have)
        fill: list[int] = []
        for i in popular:
            if len(have) + len(fill) >= n:
                break
            if int(i) not in banned:
                fill.append(int(i))
        items[row, len(have) : len(have) + len(fill)] = fill
    return items, from_model


def top_n_dense(
    scores: npt.NDArray[np.floating],
    block_users: IntArray,
    exclude: sp.csr_matrix,
    n: int,
    *,
    positive_only: bool,
) -> IntArray:
    """Per row the n best items by score desc, item asc; excluded (and, if asked, <= 0) never.

    Modifies ``scores`` in place; returns -1 where fewer than n items qualify.
    """
    scores = scores.astype(np.float64, copy=False)
    ex = exclude[block_users].tocoo()
    scores[ex.row, ex.col] = -np.inf
    if positive_only:
        scores[scores <= 0] = -np.inf
    n_eff = min(n, scores.shape[1])
    part = np.argpartition(-scores, n_eff - 1, axis=1)[:, :n_eff]
    part_scores = np.take_along_axis(scores, part, axis=1)
    # the partition may cut inside a tie at the boundary: widen to every item tied with it
    threshold = part_scores.min(axis=1, keepdims=True)
    out = np.full((scores.shape[0], n), -1, dtype=np.int64)
    for row in range(scores.shape[0]):
        s = scores[row]
        cand = np.flatnonzero((s >= threshold[row, 0]) & np.isfinite(s))
        order = np.lexsort((cand, -s[cand]))[:n]
        out[row, : order.size] = cand[order]
    return out


def lists_from_scores(
    score_block: Callable[[IntArray], npt.NDArray[np.floating]],
    train: TrainData,
    users: IntArray,
    exclude: sp.csr_matrix,
    n: int,
    *,
    positive_only: bool = True,
) -> RankedLists:
    """Score users in blocks with ``score_block(users) -> users x items``, rank, backfill."""
    step = max(1, BATCH_CELLS // max(1, train.n_items))
    parts = []
    for lo in range(0, users.size, step):
        block = users[lo : lo + step]
        parts.append(
            top_n_dense(score_block(block), block, exclude, n, positive_only=positive_only)
        )
    items = np.concatenate(parts) if parts else np.zeros((0, n), dtype=np.int64)
    items, model = backfill(items, items >= 0, users, exclude, train.popular)
    return RankedLists(users, items, model)
