"""shopscale's own recommender, run end to end as users run it (``recommend.pipeline.run``).

The training events are written to a Parquet file (with a timestamp column only when the log
has real times), the job writes ``recommendations.parquet``, and the lists are read back. The
task's rule is passed as ``exclude`` (``primary`` for next purchase, ``any`` for discovery);
the lists are then checked against the task's exclusion matrix like every other model's.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from shopscale.evaluate.data import TrainData
from shopscale.evaluate.metrics import RankedLists
from shopscale.evaluate.models import Exclusion, IntArray, backfill
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run
from shopscale.store.files import write_table

RECOMMEND_FIELDS = set(RecommendParams.__dataclass_fields__)


def recommend_params(config: dict[str, Any], primary: str) -> RecommendParams:
    """RecommendParams from an evaluation config (unknown keys are an error)."""
    unknown = set(config) - RECOMMEND_FIELDS
    if unknown:
        raise ValueError(f"not RecommendParams fields: {', '.join(sorted(unknown))}")
    return RecommendParams(**{"primary": primary, **config})


class ShopscaleJob:
    """The batch job with a given ``[recommend]`` config (its defaults when empty)."""

    def __init__(self, **config: Any) -> None:
        self.config = config
        self._runs: dict[tuple[str, int], RankedLists] = {}

    def fit(self, train: TrainData) -> None:
        """Write the training events once; the job (which learns too) runs per rule."""
        self.train = train
        self.params = recommend_params(self.config, train.primary)
        self._dir = Path(tempfile.mkdtemp(prefix="shopscale-eval-"))
        # without real times the file has no timestamp column: the job reads it in file order
        self._events = self._dir / ("train.parquet" if train.events.has_time else "train.csv")
        write_table(self._events, train.events.to_arrow(), self._events.suffix[1:])  # type: ignore[arg-type]
        self._item_code = {s: c for c, s in enumerate(train.events.item_ids)}
        self._user_code = {s: c for c, s in enumerate(train.events.user_ids)}

    def _job(self, rule: str, n: int) -> RankedLists:
        """Run the job (cached per rule and n) and read every user's list back."""
        key = (rule, n)
        if key not in self._runs:
            params = replace(self.params, exclude=rule, n=n)  # type: ignore[arg-type]
            out = self._dir / f"{rule}-{n}"
            run(self._events, out=out, params=params, output=OutputParams(db="none"))
            recs = pq.read_table(out / "recommendations.parquet").to_pydict()
            shutil.rmtree(out, ignore_errors=True)
            self._runs[key] = self._to_lists(recs, n)
        return self._runs[key]

    def _to_lists(self, recs: dict[str, list[Any]], n: int) -> RankedLists:
        """Rows (user_id, rank, item_id, source) -> users x n codes, ranks kept."""
        users = np.array([self._user_code[u] for u in recs["user_id"]], dtype=np.int64)
        items = np.array([self._item_code[i] for i in recs["item_id"]], dtype=np.int64)
        ranks = np.asarray(recs["rank"], dtype=np.int64) - 1
        model = np.asarray(recs["source"], dtype=object) == "model"
        codes = np.unique(users)
        rows = np.searchsorted(codes, users)
        grid = np.full((codes.size, n), -1, dtype=np.int64)
        flags = np.zeros((codes.size, n), dtype=bool)
        grid[rows, ranks] = items
        flags[rows, ranks] = model
        return RankedLists(codes, grid, flags)

    def recommend(self, users: IntArray, exclude: Exclusion, n: int) -> RankedLists:
        """The job's lists for ``users``, minus anything the task excludes, backfilled."""
        lists = self._job(exclude.rule, n)
        rows = np.searchsorted(lists.users, users)
        rows = np.minimum(rows, max(lists.users.size - 1, 0))
        found = lists.users[rows] == users if lists.users.size else np.zeros(users.size, bool)
        items = np.full((users.size, n), -1, dtype=np.int64)
        model = np.zeros((users.size, n), dtype=bool)
        items[found] = lists.items[rows[found]]
        model[found] = lists.from_model[rows[found]]
        ex = exclude.matrix
        for r in range(users.size):
            banned = ex.indices[ex.indptr[users[r]] : ex.indptr[users[r] + 1]]
            keep = ~np.isin(items[r], banned) & (items[r] >= 0)
            k = int(keep.sum())
            items[r, :k], model[r, :k] = items[r][keep], model[r][keep]
            items[r, k:], model[r, k:] = -1, False
        items, model = backfill(items, model, users, ex, self.train.popular)
        return RankedLists(users, items, model)

    def __del__(self) -> None:
        if hasattr(self, "_dir"):
            shutil.rmtree(self._dir, ignore_errors=True)
