"""Baselines people already use, behind the one ``Recommender`` contract.

- ``popularity``: items by number of buyers (then of any-action users), the same for everyone.
- ``own-history``: the user's own unpurchased engagement, the strongest simple e-commerce
  baseline, as a tuned family (action weights, repeats, recency, tie-break; ``OwnHistory``).
- ``als``, ``bpr``: ``implicit``'s matrix factorisations on the binary any-action matrix.
- ``itemknn-cosine``, ``itemknn-bm25``: ``implicit``'s item-kNN on the same matrix.
- ``ease``: EASE (Steck 2019), closed form B = I - P / diag(P), P = (XᵀX + λI)⁻¹, in NumPy,
  on the ``max_items`` most popular training items (a dense items x items inverse).

All of them rank with ``models.lists_from_scores`` (same exclusions, ties, backfill).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.linalg

from shopscale.errors import ShopscaleError
from shopscale.evaluate.data import TrainData
from shopscale.evaluate.metrics import RankedLists
from shopscale.evaluate.models import Exclusion, IntArray, backfill, lists_from_scores


class Popularity:
    """Most bought items first, the same list for every user."""

    def fit(self, train: TrainData) -> None:
        """Keep the training popularity order."""
        self.train = train

    def recommend(self, users: IntArray, exclude: Exclusion, n: int) -> RankedLists:
        """The popular items each user may be recommended."""
        empty = np.full((users.size, n), -1, dtype=np.int64)
        items, _ = backfill(empty, empty >= 0, users, exclude.matrix, self.train.popular)
        return RankedLists(users, items, items >= 0)


OwnWeights = Literal["tiers", "cart3-view1", "uniform", "conversion"]
TIERS = {"carted": 3.0, "favorited": 2.0, "viewed": 1.0}
"""Priorities of the strict rule: the best action on the item decides, nothing else counts."""
CART3_VIEW1 = {"carted": 3.0, "viewed": 1.0}
"""The issue's competitor, literally: 3 x carted + 1 x viewed, no other action counts."""
DAY_S = 86_400.0


class OwnHistory:
    """The user's own unbought engagement, a tuned family (no model of other users at all).

    ``weights``: ``conversion`` (sum over actions, each weighted by its training rate of
    ending in the primary action on the same item: works on any log's action names, and an
    action that never converts, such as MovieLens' ``rated``, counts 0), ``cart3-view1`` (3 x
    carted + 1 x viewed: the issue's rule), ``uniform`` (sum, every action 1), ``tiers``
    (carted, then favorited, then viewed, strictly: the old fixed rule). ``repeats``: count
    every event, not only one per action and item. ``half_life_days``: each event counts
    0.5 ^ (age / half-life) (0 = off; off without timestamps). ``tiebreak``: equal scores go
    to the most recent engagement (of the deciding action under ``tiers``) or to the item
    with more buyers; then to the item id.
    ``tiers`` + no repeats + no decay + ``recent`` is the old strict rule exactly.
    """

    def __init__(
        self,
        weights: OwnWeights = "conversion",
        repeats: bool = True,
        half_life_days: float = 1.0,
        tiebreak: Literal["recent", "buyers"] = "buyers",
    ) -> None:
        self.weights, self.repeats = weights, repeats
        self.half_life_days, self.tiebreak = half_life_days, tiebreak

    def action_weights(self, train: TrainData) -> npt.NDArray[np.float64]:
        """Weight (or, for ``tiers``, priority) of each action code; the primary's is 0."""
        names = train.events.actions
        if self.weights == "conversion":
            bought = train.binary(train.primary)
            rate = [
                train.binary(a).multiply(bought).sum() / max(1, train.binary(a).nnz) for a in names
            ]
            w = np.asarray(rate, dtype=np.float64)
        else:
            table, other = {
                "tiers": (TIERS, 0.0),
                "cart3-view1": (CART3_VIEW1, 0.0),
                "uniform": ({}, 1.0),
            }[self.weights]
            w = np.array([table.get(a, other) for a in names], dtype=np.float64)
        w[[a == train.primary for a in names]] = 0.0
        return w

    def fit(self, train: TrainData) -> None:
        """Score every (user, item) the user engaged with; keep them sorted by user, item."""
        self.train = train
        ev, w = train.events, self.action_weights(train)
        keep = w[ev.action] > 0
        u, a, i, t = ev.user[keep], ev.action[keep], ev.item[keep], ev.t[keep]
        n_a, n_i = max(1, len(ev.actions)), max(1, train.n_items)
        key = (u.astype(np.int64) * n_a + a) * n_i + i
        groups, inv = np.unique(key, return_inverse=True)
        latest = np.full(groups.size, np.iinfo(np.int64).min)
        np.maximum.at(latest, inv, t)
        halve = self._decay(train)
        mass = np.bincount(inv, halve(t), groups.size) if self.repeats else halve(latest)
        ga = (groups // n_i) % n_a
        pair = (groups // (n_a * n_i)) * n_i + groups % n_i
        if self.weights == "tiers":
            value = w[ga] + mass / (1.0 + mass)  # the best action's tier first, then its amount
            order = np.lexsort((-latest, -value, pair))
            first = np.r_[order.size > 0, pair[order][1:] != pair[order][:-1]][: order.size]
            pick = order[first]
            self.pair, self.score, self.latest = pair[pick], value[pick], latest[pick]
        else:
            self.pair, where = np.unique(pair, return_inverse=True)
            self.score = np.bincount(where, w[ga] * mass, self.pair.size)
            self.latest = np.full(self.pair.size, np.iinfo(np.int64).min)
            np.maximum.at(self.latest, where, latest)
        self.buyers = np.asarray(train.binary(train.primary).sum(axis=0)).ravel()

    def _decay(self, train: TrainData) -> Callable[[IntArray], npt.NDArray[np.float64]]:
        """Weight of an event at time t: 0.5 ^ (age in days / half-life), or 1 when off."""
        if self.half_life_days <= 0 or not train.events.has_time:
            return lambda t: np.ones(t.size)
        scale = DAY_S * self.half_life_days
        return lambda t: np.power(0.5, (train.t_ref - t) / scale)

    def recommend(self, users: IntArray, exclude: Exclusion, n: int) -> RankedLists:
        """Own items by score, then the tie-break, then item id; popular backfill."""
        n_i = max(1, self.train.n_items)
        lo = np.searchsorted(self.pair, users.astype(np.int64) * n_i)
        hi = np.searchsorted(self.pair, (users.astype(np.int64) + 1) * n_i)
        row = np.repeat(np.arange(users.size), hi - lo)
        idx = np.arange(row.size) - np.repeat(np.cumsum(hi - lo) - (hi - lo), hi - lo) + lo[row]
        item = self.pair[idx] % n_i
        ok = np.zeros(0, dtype=bool)
        if row.size:
            ok = np.asarray(exclude.matrix[users[row], item]).ravel() == 0
        row, idx, item = row[ok], idx[ok], item[ok]
        tie = self.latest[idx] if self.tiebreak == "recent" else self.buyers[item]
        order = np.lexsort((item, -tie, -self.score[idx], row))
        row, item = row[order], item[order]
        rank = np.arange(row.size) - np.searchsorted(row, row)
        top = rank < n
        items = np.full((users.size, n), -1, dtype=np.int64)
        items[row[top], rank[top]] = item[top]
        items, model = backfill(items, items >= 0, users, exclude.matrix, self.train.popular)
        return RankedLists(users, items, model)


def _require_implicit() -> Any:
    """threadpoolctl's limiter, or a one-line error naming the install command."""
    try:
        import implicit  # noqa: F401
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ShopscaleError(
            "the implicit baselines (als, bpr, itemknn-*) need the 'implicit' package: "
            "pip install 'shopscale[evaluate]'"
        ) from None
    return threadpool_limits


class _Implicit:
    """Shared wrapper: fit an ``implicit`` model on binary any-action data, score densely."""

    def __init__(self, **params: Any) -> None:
        self.params = params

    def _model(self) -> Any:
        raise NotImplementedError

    def fit(self, train: TrainData) -> None:
        """Fit with BLAS single-threaded (implicit's own threads do the work)."""
        self.train = train
        self.x = train.binary()
        threadpool_limits = _require_implicit()
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            self.model = self._model()
            # implicit's own cosine normalisation hands itself a COO matrix under SciPy 1.17
            warnings.filterwarnings("ignore", "Method expects CSR input", Warning)
            self.model.fit(self.x, show_progress=False)

    def scores(self, block: IntArray) -> npt.NDArray[np.float32]:
        """Users x items scores of one block of users."""
        return np.asarray(self.model.user_factors[block] @ self.model.item_factors.T)

    def recommend(self, users: IntArray, exclude: Exclusion, n: int) -> RankedLists:
        """Top n by the model's scores."""
        return lists_from_scores(
            self.scores, self.train, users, exclude.matrix, n, positive_only=self.positive_only
        )

    positive_only = False


class ALS(_Implicit):
    """``implicit.als.AlternatingLeastSquares`` (conjugate gradient, fixed seed)."""

    def _model(self) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(random_state=42, **self.params)


class BPR(_Implicit):
    """``implicit.bpr.BayesianPersonalizedRanking`` (fixed seed)."""

    def _model(self) -> Any:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking(random_state=42, **self.params)


class ItemKNN(_Implicit):
    """``implicit`` item-kNN: ``cosine`` or ``bm25`` weighting, K neighbours per item."""

    positive_only = True

    def __init__(self, weighting: str = "cosine", **params: Any) -> None:
        super().__init__(**params)
        self.weighting = weighting

    def _model(self) -> Any:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        cls = CosineRecommender if self.weighting == "cosine" else BM25Recommender
        return cls(**self.params)

    def scores(self, block: IntArray) -> npt.NDArray[np.float32]:
        """History rows times the item-item similarity matrix."""
        return np.asarray((self.x[block] @ self.model.similarity).toarray())


class EASE:
    """Embarrassingly shallow autoencoder on the most popular ``max_items`` items."""

    def __init__(self, lam: float = 250.0, max_items: int = 10_000) -> None:
        self.lam = lam
        self.max_items = max_items

    def fit(self, train: TrainData) -> None:
        """B = I - P / diag(P) with P = (XᵀX + λI)⁻¹ (Cholesky in float32)."""
        self.train = train
        self.cols = np.sort(train.popular[: self.max_items]).astype(np.int64)
        self.x = train.binary()[:, self.cols].astype(np.float32)
        self.b = ease_weights((self.x.T @ self.x).toarray(), self.lam)

    def scores(self, block: IntArray) -> npt.NDArray[np.float32]:
        """X_u B, spread back to the full item space (other items, and empty users, -inf)."""
        out = np.full((block.size, self.train.n_items), -np.inf, dtype=np.float32)
        rows = self.x[block]
        out[:, self.cols] = rows @ self.b
        out[np.diff(rows.indptr) == 0] = -np.inf
        return out

    def recommend(self, users: IntArray, exclude: Exclusion, n: int) -> RankedLists:
        """Top n by X_u B."""
        return lists_from_scores(
            self.scores, self.train, users, exclude.matrix, n, positive_only=False
        )


def ease_weights(gram: npt.NDArray[np.floating], lam: float) -> npt.NDArray[np.float32]:
    """EASE item weights from the Gram matrix XᵀX: B = I - P / diag(P), zero diagonal."""
    g = np.asarray(gram, dtype=np.float32)
    g[np.diag_indices_from(g)] += lam
    c, info = scipy.linalg.lapack.spotrf(g, lower=0, overwrite_a=1)
    if info != 0:
        raise ValueError(f"Gram matrix + lambda is not positive definite (lapack info {info})")
    p, info = scipy.linalg.lapack.spotri(c, lower=0, overwrite_c=1)
    p = np.triu(p) + np.triu(p, 1).T
    b = p / (-np.diag(p))
    np.fill_diagonal(b, 0.0)
    return b.astype(np.float32, copy=False)
