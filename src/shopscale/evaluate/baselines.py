"""Baselines people already use, behind the one ``Recommender`` contract.

- ``popularity``: items by number of buyers (then of any-action users), the same for everyone.
- ``own-history``: the user's own unpurchased engagement, the strongest simple e-commerce
  baseline: items they carted, then favorited, then viewed (most recent first within each).
- ``als``, ``bpr``: ``implicit``'s matrix factorisations on the binary any-action matrix.
- ``itemknn-cosine``, ``itemknn-bm25``: ``implicit``'s item-kNN on the same matrix.
- ``ease``: EASE (Steck 2019), closed form B = I - P / diag(P), P = (XᵀX + λI)⁻¹, in NumPy,
  on the ``max_items`` most popular training items (a dense items x items inverse).

All of them rank with ``models.lists_from_scores`` (same exclusions, ties, backfill).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.linalg
import scipy.sparse as sp

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


class OwnHistory:
    """The user's own engagement, by action priority, then recency (no model at all)."""

    def __init__(self, order: tuple[str, ...] = ("carted", "favorited", "viewed")) -> None:
        self.order = order

    def fit(self, train: TrainData) -> None:
        """Score = priority of the best action on the item + recency in [0, 1)."""
        self.train = train
        span = float(train.t_ref - int(train.events.t.min(initial=0)) + 2)
        score = sp.csr_matrix(train.shape, dtype=np.float64)
        for rank, action in enumerate(self.order):
            if action not in train.events.actions:
                continue
            m = train.latest(action).astype(np.float64)
            m.data = (len(self.order) - rank) + m.data / span
            score = score.maximum(m)
        self.score = score.tocsr()

    def recommend(self, users: IntArray, exclude: Exclusion, n: int) -> RankedLists:
        """Own items first, popular backfill."""
        return lists_from_scores(
            lambda b: self.score[b].toarray(), self.train, users, exclude.matrix, n
        )


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
