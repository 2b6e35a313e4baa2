"""Top-k accuracy metrics computed from ranked lists and truth sets only, never from a model.

Every model, baselines included, is scored by this module. For a test user with truth set T
(held-out primary items) and ranked list L (first k entries L_1..L_k; ``rel_r`` = 1 when
L_r is in T):

- precision@k = sum_r rel_r / k  (a short list still divides by k)
- recall@k    = sum_r rel_r / |T|
- NDCG@k      = DCG / IDCG, DCG = sum_r rel_r / log2(r + 1), IDCG the same for min(|T|, k) hits
- AP@k        = sum_r rel_r * precision@r / min(|T|, k)   (MAP@k is its mean)
- hit rate@k  = 1 when any rel_r = 1

Each is averaged over the test users (the users of the truth); a test user without a list
scores 0. Over the lists of the test users, catalogue coverage@k is the share of catalogue
items that appear in at least one top-k, and ``model_share`` is the share of test users whose
list has at least one entry from the model rather than popularity backfill.

Test sets can be small (tens of users), so a difference between two models is reported with
a paired bootstrap interval over the test users (``bootstrap_interval``), not as a bare mean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage")


@dataclass(frozen=True)
class RankedLists:
    """One ranked list per user: ``items[r]`` row padded with -1; ``from_model`` per entry."""

    users: IntArray
    items: IntArray
    from_model: npt.NDArray[np.bool_]

    def __post_init__(self) -> None:
        if self.items.ndim != 2 or self.items.shape[0] != self.users.size:
            raise ValueError(f"items must be users x n, got {self.items.shape}")
        if self.from_model.shape != self.items.shape:
            raise ValueError("from_model must have the shape of items")
        if np.any(np.diff(self.users) <= 0):
            raise ValueError("users must be sorted and distinct")

    @classmethod
    def from_dict(
        cls,
        lists: Mapping[int, Sequence[int]],
        *,
        backfill: Mapping[int, int] | None = None,
    ) -> RankedLists:
        """Lists from ``{user: [item, ...]}``; ``backfill[user]`` = how many trailing entries
        came from popularity backfill (0 when absent)."""
        users = np.array(sorted(lists), dtype=np.int64)
        n = max((len(v) for v in lists.values()), default=0)
        items = np.full((users.size, n), -1, dtype=np.int64)
        model = np.zeros((users.size, n), dtype=bool)
        for row, u in enumerate(users):
            ranked = list(lists[int(u)])
            items[row, : len(ranked)] = ranked
            model[row, : len(ranked) - (backfill or {}).get(int(u), 0)] = True
        return cls(users, items, model)


@dataclass(frozen=True)
class Truth:
    """Held-out (user, item) pairs, distinct; ``users`` are the test users (sorted)."""

    user: IntArray
    item: IntArray

    @property
    def users(self) -> IntArray:
        """The test users, sorted."""
        return np.unique(self.user)

    @classmethod
    def from_dict(cls, truth: Mapping[int, Iterable[int]]) -> Truth:
        """Truth from ``{user: {item, ...}}``; users with an empty set are not test users."""
        pairs = sorted({(int(u), int(i)) for u, items in truth.items() for i in items})
        arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        return cls(arr[:, 0], arr[:, 1])


def hit_matrix(lists: RankedLists, truth: Truth) -> tuple[npt.NDArray[np.bool_], IntArray]:
    """Per test user (sorted): which list positions are relevant, and |T|."""
    users, n_rel = np.unique(truth.user, return_counts=True)
    items = np.full((users.size, lists.items.shape[1]), -1, dtype=np.int64)
    if lists.users.size:
        rows = np.minimum(np.searchsorted(lists.users, users), lists.users.size - 1)
        found = lists.users[rows] == users
        items[found] = lists.items[rows[found]]
    width = int(max(truth.item.max(initial=0), items.max(initial=0))) + 2
    list_keys = np.arange(users.size, dtype=np.int64)[:, None] * width + items
    truth_keys = np.searchsorted(users, truth.user).astype(np.int64) * width + truth.item
    hits = np.isin(list_keys, truth_keys) & (items >= 0)
    return hits, n_rel.astype(np.int64)


def _discounts(n: int) -> npt.NDArray[np.float64]:
    """1 / log2(r + 1) for ranks r = 1..n."""
    return 1.0 / np.log2(np.arange(2, n + 2, dtype=np.float64))


def precision(hits: npt.NDArray[np.bool_], k: int) -> float:
    """Mean of (relevant in top k) / k."""
    return float(hits[:, :k].sum(axis=1).mean() / k) if hits.shape[0] else 0.0


def recall_per_user(
    hits: npt.NDArray[np.bool_], n_rel: IntArray, k: int
) -> npt.NDArray[np.float64]:
    """(relevant in top k) / |T| of each test user."""
    return hits[:, :k].sum(axis=1) / n_rel


def recall(hits: npt.NDArray[np.bool_], n_rel: IntArray, k: int) -> float:
    """Mean of (relevant in top k) / |T|."""
    return float(recall_per_user(hits, n_rel, k).mean()) if hits.shape[0] else 0.0


def ndcg_per_user(hits: npt.NDArray[np.bool_], n_rel: IntArray, k: int) -> npt.NDArray[np.float64]:
    """DCG@k / ideal DCG@k of each test user, binary relevance."""
    disc = _discounts(k)
    top = hits[:, :k]
    dcg = (top * disc[: top.shape[1]]).sum(axis=1)
    ideal = np.cumsum(disc)[np.minimum(n_rel, k) - 1]
    return dcg / ideal


def ndcg(hits: npt.NDArray[np.bool_], n_rel: IntArray, k: int) -> float:
    """Mean of DCG@k / ideal DCG@k with binary relevance."""
    return float(ndcg_per_user(hits, n_rel, k).mean()) if hits.shape[0] else 0.0


def bootstrap_interval(
    values: npt.ArrayLike, *, level: float = 0.95, draws: int = 4000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling users).

    Pass per-user differences of two models on the same test users for a paired interval:
    if it contains 0, the test set cannot tell the two models apart at that level.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(draws, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def mean_average_precision(hits: npt.NDArray[np.bool_], n_rel: IntArray, k: int) -> float:
    """Mean of AP@k = sum of precision@r at each relevant rank r <= k, over min(|T|, k)."""
    if not hits.shape[0]:
        return 0.0
    top = hits[:, :k].astype(np.float64)
    prec_at_r = np.cumsum(top, axis=1) / np.arange(1, top.shape[1] + 1)
    return float(((prec_at_r * top).sum(axis=1) / np.minimum(n_rel, k)).mean())


def hit_rate(hits: npt.NDArray[np.bool_], k: int) -> float:
    """Share of test users with at least one relevant item in the top k."""
    return float(hits[:, :k].any(axis=1).mean()) if hits.shape[0] else 0.0


def coverage(lists: RankedLists, users: IntArray, k: int, catalogue_size: int) -> float:
    """Distinct items in the top k of these users' lists, over the catalogue size."""
    if catalogue_size <= 0:
        return 0.0
    rows = lists.items[np.isin(lists.users, users), :k]
    return float(np.unique(rows[rows >= 0]).size / catalogue_size)


def model_share(lists: RankedLists, users: IntArray) -> float:
    """Share of ``users`` whose list has at least one entry from the model (not backfill)."""
    if users.size == 0:
        return 0.0
    with_model = lists.users[lists.from_model.any(axis=1)]
    return float(np.isin(users, with_model).mean())


def score_lists(
    lists: RankedLists, truth: Truth, ks: Sequence[int], catalogue_size: int
) -> dict[str, float]:
    """Every metric at every k, plus ``model_share`` and ``users``: one flat dict."""
    hits, n_rel = hit_matrix(lists, truth)
    users = truth.users
    out: dict[str, float] = {"users": float(users.size), "model_share": model_share(lists, users)}
    for k in ks:
        out[f"precision@{k}"] = precision(hits, k)
        out[f"recall@{k}"] = recall(hits, n_rel, k)
        out[f"ndcg@{k}"] = ndcg(hits, n_rel, k)
        out[f"map@{k}"] = mean_average_precision(hits, n_rel, k)
        out[f"hit_rate@{k}"] = hit_rate(hits, k)
        out[f"coverage@{k}"] = coverage(lists, users, k, catalogue_size)
    return out


def per_user_scores(lists: RankedLists, truth: Truth, k: int) -> dict[str, list[float]]:
    """NDCG@k and recall@k of every test user (in ``truth.users`` order), for paired tests."""
    hits, n_rel = hit_matrix(lists, truth)
    return {
        f"ndcg@{k}": ndcg_per_user(hits, n_rel, k).round(6).tolist(),
        f"recall@{k}": recall_per_user(hits, n_rel, k).round(6).tolist(),
    }
