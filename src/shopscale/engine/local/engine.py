"""The local engine: DuckDB reads, validates, encodes and downsamples; SciPy counts pairs per
shard of users; NumPy scores pairs; a numba kernel ranks each shard of users.

Memory is bounded by one shard of users plus the item-item result, not by the input: DuckDB
spills to disk, and the map and rank stages fetch one shard at a time (always at least two
shards, so an order-dependent reduce fails here and not first on a cluster).

After ``map`` the engine holds a model's whole state (``recommend.model``): ``write_model``
stores it, and ``load_model`` + ``read`` + ``fold`` bring a stored model, updated with new
events, back to that same point, so the unchanged ``reduce`` and ``rank`` finish an update.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from shopscale.engine.base import (
    RECOMMENDATIONS_SCHEMA,
    SIMILAR_ITEMS_SCHEMA,
    CatalogSizes,
    ReadCounts,
)
from shopscale.engine.local.counts import ANY, Shard, channels_for, count_users, selection
from shopscale.engine.local.fold import fold_events
from shopscale.engine.local.kernels import score_users
from shopscale.engine.local.reader import ReadReport, read_events
from shopscale.engine.local.reduce import (
    Kept,
    PairScoring,
    csr_from_sorted,
    score_channel,
    self_votes,
    similar_rows,
    vote_matrix,
)
from shopscale.engine.local.spill import new_spill_dir, sweep_stale
from shopscale.engine.local.state import adopt, write_batch_model
from shopscale.errors import ShopscaleError
from shopscale.events import EventsParams
from shopscale.ids import IdMap
from shopscale.log import get_logger
from shopscale.recommend.model import Counts, ModelState, read_state, write_state
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.ranking import (
    decay_weights,
    sequence_weights,
    unprompted_prior,
)

log = get_logger("engine.local")

ProgressFn = Callable[[str, int, int], None]
_SOURCES = pa.array(["model", "backfill"], pa.string())


class LocalEngine:
    """DuckDB + Arrow + NumPy/SciPy + numba in one process."""

    name = "local"

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        progress: ProgressFn | None = None,
    ) -> None:
        sweep_stale()
        self._tmp = new_spill_dir()
        config: dict[str, str | bool | int | float | list[str]] = {"temp_directory": str(self._tmp)}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        self.con = duckdb.connect(config=config)
        self.progress = progress or (lambda stage, done, total: None)
        self.model: ModelState | None = None
        """The stored model this run continues (``load_model``), folded by ``fold``."""
        self._read: ReadReport | None = None
        self._read_from: tuple[list[Path], EventsParams] | None = None

    # -- read / validate ------------------------------------------------------------------
    def read(self, paths: Sequence[Path], params: EventsParams) -> ReadCounts:
        """Parse and validate every file into the ``events`` table (untimed rows continue
        the loaded model's file order)."""
        start = self.model.next_position if self.model is not None else 0
        report = read_events(self.con, paths, params, seq_start=start)
        self._read, self._read_from = report, (list(paths), params)
        return ReadCounts(
            rows_read=report.rows_read,
            accepted=report.accepted,
            rejected=report.rejected,
            rejects=report.rejects_table(),
            files=report.files,
            timed=report.timed,
        )

    # -- encode ---------------------------------------------------------------------------
    def encode(self, params: RecommendParams) -> CatalogSizes:
        """Codes in string order for users, items, actions; dedupe; keep recent items."""
        con = self.con
        actions = [
            r[0] for r in con.execute("SELECT DISTINCT action FROM events ORDER BY 1").fetchall()
        ]
        if not actions:
            raise ShopscaleError("no valid events to learn from")
        self.actions = actions
        self.channels = channels_for(params, actions)
        con.execute(
            "CREATE OR REPLACE TABLE users AS SELECT user_id, "
            "(row_number() OVER (ORDER BY user_id) - 1)::INTEGER AS u "
            "FROM (SELECT DISTINCT user_id FROM events)"
        )
        con.execute(
            "CREATE OR REPLACE TABLE items AS SELECT item_id, "
            "(row_number() OVER (ORDER BY item_id) - 1)::INTEGER AS i "
            "FROM (SELECT DISTINCT item_id FROM events)"
        )
        con.execute(
            "CREATE OR REPLACE TABLE acts AS SELECT action, "
            "(row_number() OVER (ORDER BY action) - 1)::TINYINT AS a "
            "FROM (SELECT DISTINCT action FROM events)"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE dedup AS SELECT u, a, i, max(t) AS t FROM events "
            "JOIN users USING (user_id) JOIN items USING (item_id) JOIN acts USING (action) "
            "GROUP BY u, a, i"
        )
        con.execute("DROP TABLE events")
        longest = con.execute("SELECT max(c) FROM (SELECT count(*) AS c FROM dedup GROUP BY u, a)")
        keep = int(params.max_items_per_user)
        recent = (
            f"QUALIFY row_number() OVER (PARTITION BY u, a ORDER BY t DESC, i ASC) <= {keep}"
            if (longest.fetchall()[0][0] or 0) > keep
            else ""
        )
        con.execute(
            f"CREATE OR REPLACE TABLE inter AS SELECT u, a, i, t FROM dedup {recent} "
            "ORDER BY u, a, i"
        )
        # downsampling forgets a heavy user's old items, but a list must still never show
        # an item the user bought (or touched, with exclude = "any") however long ago
        self.full_exclusions = bool(recent) and params.exclude != "none"
        if self.full_exclusions:
            only = "WHERE a = (SELECT a FROM acts WHERE action = $p)"
            only = "" if params.exclude == "any" else only
            con.execute(
                f"CREATE OR REPLACE TABLE excluded AS SELECT DISTINCT u, i FROM dedup {only} "
                "ORDER BY u, i",
                {"p": params.primary} if only else None,
            )
        con.execute("DROP TABLE dedup")
        self.users = IdMap(
            con.sql("SELECT user_id FROM users ORDER BY u")
            .to_arrow_table()
            .column(0)
            .combine_chunks()
        )
        self.items = IdMap(
            con.sql("SELECT item_id FROM items ORDER BY i")
            .to_arrow_table()
            .column(0)
            .combine_chunks()
        )
        n_inter, t_max = con.execute("SELECT count(*), max(t) FROM inter").fetchall()[0]
        self.t_ref = int(t_max)
        return CatalogSizes(len(self.users), len(self.items), tuple(actions), int(n_inter))

    # -- map ------------------------------------------------------------------------------
    def _shards(self, params: RecommendParams) -> Iterator[Shard]:
        """Fetch users in contiguous code ranges; at least two shards whenever possible."""
        n_users = len(self.users)
        size = max(1, min(params.users_per_shard, math.ceil(n_users / 2)))
        for lo in range(0, n_users, size):
            hi = min(n_users, lo + size)
            tbl = self.con.sql(
                "SELECT u, a, i, t FROM inter WHERE u >= $lo AND u < $hi ORDER BY u, a, i",
                params={"lo": lo, "hi": hi},
            ).to_arrow_table()
            yield Shard(
                lo=lo,
                n_users=hi - lo,
                u=(tbl.column("u").to_numpy() - lo).astype(np.int32),
                a=tbl.column("a").to_numpy().astype(np.int8),
                i=tbl.column("i").to_numpy().astype(np.int32),
                t=tbl.column("t").to_numpy().astype(np.int64),
            )

    def map(self, params: RecommendParams) -> None:
        """Per shard: every count of the model (``counts.count_users``), summed."""
        n_items = len(self.items)
        self.totals = Counts.zeros(n_items, self.channels)
        for shard in self._shards(params):
            self.totals.add(count_users(shard, self.actions, self.channels, n_items, params))
            self.progress("map", shard.lo + shard.n_users, len(self.users))

    # -- reduce ---------------------------------------------------------------------------
    def reduce(self, params: RecommendParams) -> Iterator[pa.RecordBatch]:
        """Score every co-occurring pair, keep the top per item, and build the vote matrix."""
        n_items = len(self.items)
        kept: list[Kept] = []
        own_votes: list[tuple[npt.NDArray, npt.NDArray, int]] = []
        for c, ch in enumerate(self.channels):
            counts = self.totals.k11.pop(ch).tocsr()
            counts.sort_indices()
            if _self_votes_on(params, ch):
                rate_items, rates = self_votes(counts, self.totals.right_total[ch], params)
                own_votes.append((rate_items, rates, c))
            # (i, i) scores 0 in the primary channel and for classic similarities; with self
            # votes on, in every channel: an item's own engagement then votes through its
            # conversion rate instead (``self_votes`` above)
            scoring = PairScoring(
                self.totals.left_total,
                self.totals.right_total[ch],
                len(self.users),
                zero_diagonal=params.similarity != "llr"
                or ch == params.primary
                or params.self_weight > 0,
            )
            kept.append(score_channel(counts, scoring, params, c))
            self.progress("reduce", c + 1, len(self.channels))
        self.votes = vote_matrix(kept, own_votes, n_items)
        rows, cols, scores, chan, ranks = similar_rows(kept, self.channels)
        step = 1_000_000
        for lo in range(0, max(rows.size, 1), step):
            sl = slice(lo, lo + step)
            yield pa.RecordBatch.from_arrays(
                [
                    self.items.decode(rows[sl]),
                    pa.array(self.channels, pa.string()).take(pa.array(chan[sl])),
                    pa.array(ranks[sl], pa.int32()),
                    self.items.decode(cols[sl]),
                    pa.array(scores[sl], pa.float64()),
                ],
                schema=SIMILAR_ITEMS_SCHEMA,
            )

    # -- rank -----------------------------------------------------------------------------
    def rank(self, params: RecommendParams) -> Iterator[pa.RecordBatch]:
        """Per shard of users: vote, exclude, keep top n, backfill; yield decoded rows."""
        n_items = len(self.items)
        pop_any, pop_primary = self.totals.pop_any, self.totals.pop_primary
        order = np.lexsort((np.arange(n_items), -pop_any, -pop_primary))
        popular = order[pop_any[order] > 0].astype(np.int32)  # seen after downsampling
        votes = (self.votes.indptr.astype(np.int64), self.votes.indices, self.votes.data)
        prior = np.zeros(n_items)
        if params.similarity == "llr":
            prior = unprompted_prior(
                self.totals.unprompted,
                self.totals.left_total,
                len(self.users),
                params.unprompted_weight,
                params.max_similar_per_item,
            )
        prior_items = np.flatnonzero(prior > 0).astype(np.int32)
        if prior_items.size:
            log.info("unprompted-purchase prior on %d item(s)", prior_items.size)
        for shard in self._shards(params):
            history = self._history(shard, params)
            exclude = self._exclusions(shard, params)
            items, scores, source = score_users(
                history,
                votes,
                exclude,
                popular,
                n_items=n_items,
                n=params.n,
                backfill=params.backfill,
                prior=(prior_items, prior[prior_items]),
            )
            yield self._decode_recs(shard, items, scores, source)
            self.progress("rank", shard.lo + shard.n_users, len(self.users))

    def _history(
        self, shard: Shard, params: RecommendParams
    ) -> tuple[npt.NDArray, npt.NDArray, npt.NDArray]:
        """CSR users x (channel*items) with each channel's weight times time and sequence
        decay (the sequence runs over the user's entries of every channel)."""
        n_items = len(self.items)
        parts_u, parts_j, parts_w, parts_t = [], [], [], []
        for c, ch in enumerate(self.channels):
            u, i, t = selection(shard, ch, self.actions, n_items)
            parts_u.append(u)
            parts_j.append(c * n_items + i.astype(np.int64))
            parts_w.append(params.weight(ch) * decay_weights(t, self.t_ref, params.half_life_days))
            parts_t.append(t)
        u = np.concatenate(parts_u)
        j = np.concatenate(parts_j)
        w = np.concatenate(parts_w) * sequence_weights(
            u, np.concatenate(parts_t), params.half_life_events
        )
        # each part is sorted by (user, item) and parts come in channel order, so a stable
        # sort by user (a merge of sorted runs) gives (user, channel, item) order
        order = np.argsort(u, kind="stable")
        m = csr_from_sorted(
            u[order], j[order], shard.n_users, len(self.channels) * n_items, data=w[order]
        )
        return m.indptr.astype(np.int64), m.indices, m.data.astype(np.float64)

    def _exclusions(self, shard: Shard, params: RecommendParams) -> tuple[npt.NDArray, npt.NDArray]:
        """CSR users x items of what each user must not be recommended: from every event,
        not only the ones downsampling kept."""
        n_items = len(self.items)
        if self.full_exclusions:
            tbl = self.con.sql(
                "SELECT u, i FROM excluded WHERE u >= $lo AND u < $hi ORDER BY u, i",
                params={"lo": shard.lo, "hi": shard.lo + shard.n_users},
            ).to_arrow_table()
            u = (tbl.column("u").to_numpy() - shard.lo).astype(np.int32)
            i = tbl.column("i").to_numpy().astype(np.int32)
        elif params.exclude == "none":
            u = i = np.zeros(0, dtype=np.int32)
        elif params.exclude == "any":
            u, i, _ = selection(shard, ANY, self.actions, n_items)
        elif params.primary in self.actions:
            u, i, _ = selection(shard, params.primary, self.actions, n_items)
        else:
            u = i = np.zeros(0, dtype=np.int32)
        m = csr_from_sorted(u, i, shard.n_users, n_items)
        return m.indptr.astype(np.int64), m.indices

    def _decode_recs(
        self, shard: Shard, items: npt.NDArray, scores: npt.NDArray, source: npt.NDArray
    ) -> pa.RecordBatch:
        """Flatten a shard's (users x n) lists into output rows with string ids."""
        filled = source.ravel() != 0
        users = np.repeat(np.arange(shard.n_users, dtype=np.int32) + shard.lo, items.shape[1])[
            filled
        ]
        ranks = np.tile(np.arange(1, items.shape[1] + 1, dtype=np.int32), shard.n_users)[filled]
        src = _SOURCES.take(pa.array(source.ravel()[filled] - 1, pa.int8()))
        return pa.RecordBatch.from_arrays(
            [
                self.users.decode(users),
                pa.array(ranks, pa.int32()),
                self.items.decode(items.ravel()[filled]),
                pa.array(scores.ravel()[filled], pa.float64()),
                src,
            ],
            schema=RECOMMENDATIONS_SCHEMA,
        )

    # -- the model state ------------------------------------------------------------------
    def write_model(self, folder: Path, params: RecommendParams) -> None:
        """Write the model state (after ``map`` or ``fold``, before ``reduce``)."""
        if self.model is not None:
            write_state(folder, self.model)
            return
        assert self._read is not None and self._read_from is not None
        paths, events = self._read_from
        write_batch_model(self, folder, params, events, paths, self._read)

    def load_model(self, folder: Path) -> ModelState:
        """Load a stored model that ``read`` and ``fold`` continue."""
        self.model = read_state(folder)
        return self.model

    def fold(self, files: list[dict[str, object]], *, lists: bool = True) -> CatalogSizes:
        """Fold the events read into the loaded model (``files``: their names and hashes),
        then stand where ``map`` leaves a batch run: ``reduce`` and (only with ``lists``)
        ``rank`` follow."""
        assert self.model is not None and self._read is not None
        self.model = fold_events(self.con, self.model, positions=self._read.positions, files=files)
        self.con.execute("DROP TABLE events")
        adopt(self, self.model.in_string_order(histories=lists), histories=lists)
        m = self.model
        return CatalogSizes(len(m.users), len(m.items), tuple(m.actions), m.history.u.size)

    def close(self) -> None:
        """Close DuckDB and remove its spill folder."""
        self.con.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def _self_votes_on(params: RecommendParams, channel: str) -> bool:
    """Whether ``channel``'s history votes for the item itself (LLR mode, not the primary)."""
    return params.similarity == "llr" and params.self_weight > 0 and channel != params.primary
