"""The local engine: DuckDB reads, validates, encodes and downsamples; SciPy counts pairs per
shard of users; NumPy scores pairs per shard of items; a numba kernel ranks each shard of users.

Memory is bounded by a few shards of users plus the budget of the pair counts (a quarter of
``memory_limit``), not by the input: DuckDB spills to disk, the map and rank stages fetch a few
shards at a time (always at least two, so an order-dependent reduce fails here and not first on
a cluster), and pair counts over the budget go to disk (``pairs.PairStore``). Every heavy step
runs on ``threads`` threads (DuckDB, SciPy and numba release the GIL).

After ``map`` the engine holds a model's whole state (``recommend.model``): ``write_model``
stores it, and ``load_model`` + ``read`` + ``fold`` bring a stored model, updated with new
events, back to that same point, so the unchanged ``reduce`` and ``rank`` finish an update.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import scipy.sparse as sp

from shopscale.engine.base import (
    CatalogSizes,
    ReadCounts,
)
from shopscale.engine.local.counts import (
    ANY,
    Shard,
    add_marginals,
    channels_for,
    count_users,
    selection,
    sorted_shard,
)
from shopscale.engine.local.fold import fold_events
from shopscale.engine.local.kernels import score_users, value_order
from shopscale.engine.local.lists import decode_lists, weighted_history
from shopscale.engine.local.pairs import PairStore, parse_bytes, physical_memory
from shopscale.engine.local.parallel import ordered_map
from shopscale.engine.local.reader import ReadReport, read_events
from shopscale.engine.local.reduce import csr_from_sorted, self_votes, vote_matrix
from shopscale.engine.local.similar import (
    VoteParts,
    block_diagonal,
    channel_scorings,
    named,
    rebatch,
    score_block,
    similar_batches,
)
from shopscale.engine.local.spill import new_spill_dir, sweep_stale
from shopscale.engine.local.state import adopt, write_batch_model
from shopscale.errors import ConfigError, ShopscaleError
from shopscale.events import EventsParams
from shopscale.ids import IdMap, id_array
from shopscale.log import get_logger
from shopscale.recommend.model import Counts, ModelState, read_state, write_state
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.rules import (
    popularity_order,
    prior_votes,
    repeats_on,
    self_votes_on,
)
from shopscale.store.files import remove_paced

log = get_logger("engine.local")

ProgressFn = Callable[[str, int, int], None]
_Csr = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]]
_Exclusions = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]
PAIR_BUDGET_SHARE = 4
"""The pair counts may hold 1/PAIR_BUDGET_SHARE of the memory limit before going to disk."""
DEDUP_USERS = 16_384
"""Users per block of encode's de-duplicating sort (100M events: 291 blocks, 36 s against
44 s for a hash aggregate, and 8.0 against 11.7 GB peak RSS)."""


class LocalEngine:
    """DuckDB + Arrow + NumPy/SciPy + numba in one process."""

    name = "local"
    model_beside_reduce = True

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        progress: ProgressFn | None = None,
        pair_budget: int | None = None,
        item_shards: int | None = None,
    ) -> None:
        """``pair_budget`` (bytes; default a quarter of ``memory_limit``, itself by default
        80 % of RAM as DuckDB's) and ``item_shards`` (default: from the budget) exist to force
        the sharded, spilled path in tests."""
        try:
            limit = parse_bytes(memory_limit) if memory_limit else int(0.8 * physical_memory())
        except ValueError as err:
            raise ConfigError("--memory-limit", "memory_limit", str(err)) from None
        self.threads = int(threads or os.cpu_count() or 1)
        self.pair_budget = pair_budget or limit // PAIR_BUDGET_SHARE
        self.item_shards = item_shards
        self.pairs: PairStore | None = None
        self._unwritten: PairStore | None = None
        """The map's pair store until ``write_model`` has written it (it may outlive the reduce:
        the model is written on a thread beside reduce and rank)."""
        self._pairs_lock = threading.Lock()
        sweep_stale()
        self._tmp = new_spill_dir()
        config: dict[str, str | bool | int | float | list[str]] = {"temp_directory": str(self._tmp)}
        if threads:
            config["threads"] = threads
        if memory_limit:
            config["memory_limit"] = memory_limit
        self.con = duckdb.connect(config=config)
        # our own display shows the stages; DuckDB's bar would print over it (and a Ctrl-C that
        # lands while it prints can be lost: duckdb/duckdb#10545)
        self.con.execute("SET enable_progress_bar = false")
        self.progress = progress or (lambda stage, done, total: None)
        self.model: ModelState | None = None
        """The stored model this run continues (``load_model``), folded by ``fold``."""
        self._read: ReadReport | None = None
        self._read_from: tuple[list[Path], EventsParams] | None = None
        self._adopting: bool | None = None
        """Set by ``fold``: take the folded state up (with histories or not) before reducing."""
        self._votes: sp.csr_matrix | Callable[[], sp.csr_matrix] | None = None

    # -- read / validate ------------------------------------------------------------------
    def read(
        self, paths: Sequence[Path], params: EventsParams, *, seq_start: int | None = None
    ) -> ReadCounts:
        """Parse and validate every file into the ``events`` table (untimed rows continue
        the loaded model's file order, or ``seq_start`` while the model is still loading)."""
        if seq_start is not None:
            start = seq_start
        else:
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
        # each (user, action, item) once, at its latest time: the last row of its run in
        # (u, a, i, t) order. Sorted runs, not a hash aggregate: on a sparse log nearly every
        # row is a group of its own, which a sort handles in less time and memory; the sort
        # is cut into blocks of users (a run never spans two) that run on every thread
        # n, the run's events: its last row's number minus the previous run's last
        con.execute(
            "CREATE OR REPLACE TEMP TABLE dedup AS SELECT u, a, i, t, "
            "(r - coalesce(lag(r) OVER runs, 0))::INTEGER AS n FROM ("
            "SELECT u, a, i, t, row_number() OVER w AS r FROM events "
            "JOIN users USING (user_id) JOIN items USING (item_id) JOIN acts USING (action) "
            f"WINDOW w AS (PARTITION BY u // {DEDUP_USERS} ORDER BY u, a, i, t) "
            "QUALIFY lead(u) OVER w IS DISTINCT FROM u OR lead(a) OVER w IS DISTINCT FROM a "
            "OR lead(i) OVER w IS DISTINCT FROM i) "
            f"WINDOW runs AS (PARTITION BY u // {DEDUP_USERS} ORDER BY u, a, i)"
        )
        con.execute("DROP TABLE events")
        keep = int(params.max_items_per_user)
        # only the (user, action) groups over the limit are ranked by time: the window runs
        # over their rows, not over every row
        con.execute(
            "CREATE OR REPLACE TEMP TABLE heavy AS SELECT u, a FROM dedup GROUP BY u, a "
            f"HAVING count(*) > {keep}"
        )
        cut = bool(con.execute("SELECT count(*) FROM heavy").fetchall()[0][0])
        every = "SELECT u, a, i, t, n FROM dedup"
        ranked = "row_number() OVER (PARTITION BY u, a ORDER BY t DESC, i ASC)"
        rows = every
        if cut:
            rows = (
                f"{every} ANTI JOIN heavy USING (u, a) UNION ALL {every} SEMI JOIN heavy USING "
                f"(u, a) QUALIFY {ranked} <= {keep}"
            )
        con.execute(
            f"CREATE OR REPLACE TABLE inter AS SELECT u, a, i, t, n FROM ({rows}) ORDER BY u, a, i"
        )
        # the rows the window dropped, with their events: an update that brings one back
        # into a window carries them (docs/model.md, "The fold, and why it is exact")
        dropped = f"{every} LIMIT 0"
        if cut:
            dropped = f"{every} SEMI JOIN heavy USING (u, a) QUALIFY {ranked} > {keep}"
        con.execute(
            f"CREATE OR REPLACE TABLE dropped AS SELECT * FROM ({dropped}) ORDER BY u, a, i"
        )
        con.execute("DROP TABLE heavy")
        # downsampling forgets a heavy user's old items, but a list must still never show
        # an item the user bought (or touched, with exclude = "any") however long ago
        self.full_exclusions = cut and params.exclude != "none"
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
            id_array(con.sql("SELECT user_id FROM users ORDER BY u").to_arrow_table())
        )
        self.items = IdMap(
            id_array(con.sql("SELECT item_id FROM items ORDER BY i").to_arrow_table())
        )
        n_inter, t_max = con.execute("SELECT count(*), max(t) FROM inter").fetchall()[0]
        self.t_ref = int(t_max)
        return CatalogSizes(len(self.users), len(self.items), tuple(actions), int(n_inter))

    # -- map ------------------------------------------------------------------------------
    def _ranges(self, params: RecommendParams) -> list[tuple[int, int]]:
        """Users in contiguous code ranges; at least two shards whenever possible."""
        n_users = len(self.users)
        size = max(1, min(params.users_per_shard, math.ceil(n_users / 2)))
        return [(lo, min(n_users, lo + size)) for lo in range(0, n_users, size)]

    def _fetch(self, users: tuple[int, int]) -> Shard:
        """One shard of users' interactions (a cursor of its own: called from threads)."""
        lo, hi = users
        with self.con.cursor() as cur:
            tbl = cur.sql(
                "SELECT u, a, i, t, n FROM inter WHERE u >= $lo AND u < $hi",
                params={"lo": lo, "hi": hi},
            ).to_arrow_table()
        return sorted_shard(
            lo,
            hi - lo,
            (tbl.column("u").to_numpy() - lo).astype(np.int32),
            tbl.column("a").to_numpy().astype(np.int8),
            tbl.column("i").to_numpy().astype(np.int32),
            tbl.column("t").to_numpy().astype(np.int64),
            tbl.column("n").to_numpy().astype(np.int32),
        )

    def _shards(self, params: RecommendParams) -> Iterator[Shard]:
        """Every shard of users, one after the other."""
        for users in self._ranges(params):
            yield self._fetch(users)

    def map(self, params: RecommendParams) -> None:
        """Per shard of users, on every thread: every count of the model
        (``counts.count_users``); pair counts go to the item-sharded store, the rest is summed."""
        n_items = len(self.items)
        self.totals = Counts.zeros(n_items, [])
        self.totals.right_total = {ch: np.zeros(n_items, np.int64) for ch in self.channels}
        ranges = self._ranges(params)
        self.pairs = PairStore(
            len(self.channels),
            n_items,
            folder=self._tmp / "pairs",
            budget=self.pair_budget,
            n_shards=self.item_shards,
            threads=self.threads,
        )

        def count(users: tuple[int, int]) -> tuple[tuple[int, int], Counts]:
            shard = self._fetch(users)
            return users, count_users(shard, self.actions, self.channels, n_items, params)

        for (_, hi), part in ordered_map(
            count, ranges, threads=self.threads, ahead=self.threads + 1
        ):
            self.pairs.add([part.k11.pop(ch) for ch in self.channels], len(ranges))
            add_marginals(self.totals, part)
            self.progress("map", hi, len(self.users))
        self.pairs.finish()
        self._unwritten = self.pairs
        if self.pairs.spills:
            log.info("pair counts spilled to disk %d time(s)", self.pairs.spills)

    # -- reduce ---------------------------------------------------------------------------
    def _pair_store(self) -> PairStore:
        """The map's store, or one over a loaded model's whole matrices (``adopt``)."""
        if self.totals.k11:
            n_items = len(self.items)
            empty = sp.csr_matrix((n_items, n_items), dtype=np.int32)
            mats = [self.totals.k11.pop(ch, empty) for ch in self.channels]
            self.totals.k11.clear()
            return PairStore.of_matrices(mats, self._tmp / "pairs")
        assert self.pairs is not None, "map (or fold) runs before reduce"
        return self.pairs

    def reduce(self, params: RecommendParams, dest: Path | None = None) -> Iterator[pa.RecordBatch]:
        """Per shard of items, on every thread: score every co-occurring pair and keep the top
        per item (``similar.score_block``); then build the vote matrix."""
        for batch in rebatch(self._reduce_shards(params)):
            yield named(batch, self.items, self.channels)

    def _adopt_folded(self) -> None:
        """After a fold: the folded state in string order as the engine's tables and counts
        (deferred to here so that writing the state can overlap it)."""
        if self._adopting is not None and self.model is not None:
            lists, self._adopting = self._adopting, None
            adopt(self, self.model.in_string_order(histories=lists), histories=lists)

    def _reduce_shards(self, params: RecommendParams) -> Iterator[pa.RecordBatch]:
        self._adopt_folded()
        n_items, store = len(self.items), self._pair_store()
        scorings = channel_scorings(self.totals, self.channels, len(self.users), params)
        own = [c for c, ch in enumerate(self.channels) if self_votes_on(params, ch)]

        def shard(s: int) -> tuple[list, list]:
            blocks = [store.block(c, s) for c in range(len(self.channels))]
            kept = [score_block(b, scorings[c], params, c, n_items) for c, b in enumerate(blocks)]
            return kept, [block_diagonal(blocks[c]) for c in own]

        votes = VoteParts(len(self.channels))
        # one worker: numba kernels are launched from one thread at a time (OpenMP gives each
        # launching thread its own team of spinning workers; two teams on two cores made rank
        # 20x slower), while this thread writes the shard before
        shards = ordered_map(shard, range(store.n_shards), threads=1, ahead=2)
        for s, (kept, diags) in enumerate(shards):
            yield from similar_batches(kept, self.channels)
            for k in kept:
                votes.add(k)
            for c, diag in zip(own, diags, strict=True):
                votes.add_diagonal(c, *diag)
            self.progress("reduce", s + 1, store.n_shards)
        own_votes = [
            (*self_votes(votes.diagonal(c, n_items), self.totals.right_total[ch], params), c)
            for c, ch in enumerate(self.channels)
            if c in own
        ]
        kept = votes.merged()
        repeats = repeats_on(params)
        self._votes = lambda: vote_matrix(kept, own_votes, n_items, repeats=repeats)
        self._drop_pairs(reduced=True)

    def _drop_pairs(self, *, reduced: bool = False, written: bool = False) -> None:
        """Let go of the map's pair store for the reduce or the model write; its spilled
        blocks are removed once neither needs them."""
        with self._pairs_lock:
            if reduced:
                self.pairs = None
            if written:
                self._unwritten = None
            if self.pairs is None and self._unwritten is None:
                shutil.rmtree(self._tmp / "pairs", ignore_errors=True)

    @property
    def votes(self) -> sp.csr_matrix:
        """The reduce's vote matrix, built on first use (an update without lists never
        needs it)."""
        if callable(self._votes):
            self._votes = self._votes()
        assert self._votes is not None, "reduce runs before the votes are read"
        return self._votes

    # -- rank -----------------------------------------------------------------------------
    def rank(self, params: RecommendParams, dest: Path | None = None) -> Iterator[pa.RecordBatch]:
        """Per shard of users: vote, exclude, keep top n, backfill; yield decoded rows (the
        caller writes them to ``dest``)."""
        n_items = len(self.items)
        popular = popularity_order(self.totals.pop_any, self.totals.pop_primary)
        votes = (self.votes.indptr.astype(np.int64), self.votes.indices, self.votes.data)
        prior = prior_votes(self.totals.unprompted, self.totals.left_total, len(self.users), params)
        prior_items = prior[0]
        # users with many votes are ranked from the heads of their rows (the same lists); the
        # kernel scores every user in full under a prior, so no heads are built for one
        order = None if prior_items.size else value_order(votes, n_items)
        if prior_items.size:
            log.info("unprompted-purchase prior on %d item(s)", prior_items.size)

        def prepare(users: tuple[int, int]) -> tuple[Shard, _Csr, _Exclusions]:
            shard = self._fetch(users)
            return shard, self._history(shard, params), self._exclusions(shard, params)

        def recommend(
            prepared: tuple[Shard, _Csr, _Exclusions],
        ) -> tuple[int, pa.RecordBatch]:
            shard, history, exclude = prepared
            items, scores, source = score_users(
                history,
                votes,
                exclude,
                popular,
                n_items=n_items,
                n=params.n,
                backfill=params.backfill,
                prior=prior,
                order=order,
            )
            return shard.lo + shard.n_users, self._decode_recs(shard, items, scores, source)

        # a pipeline of shards: one thread fetches and prepares the next, one scores (the
        # kernel on every core) and decodes, this one writes; a single thread launches the
        # kernels (see ``reduce``)
        prepared = ordered_map(prepare, self._ranges(params), threads=1, ahead=2)
        for hi, batch in ordered_map(recommend, prepared, threads=1, ahead=2):
            yield batch
            self.progress("rank", hi, len(self.users))

    def _history(self, shard: Shard, params: RecommendParams) -> _Csr:
        """The shard's weighted history (``lists.weighted_history``)."""
        return weighted_history(
            shard, self.channels, self.actions, len(self.items), params, self.t_ref
        )

    def _exclusions(self, shard: Shard, params: RecommendParams) -> _Exclusions:
        """CSR users x items of what each user must not be recommended: from every event,
        not only the ones downsampling kept."""
        n_items = len(self.items)
        if self.full_exclusions:
            with self.con.cursor() as cur:  # called from a thread
                tbl = cur.sql(
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
        """A shard's lists as output rows (``lists.decode_lists``)."""
        return decode_lists(shard.lo, items, scores, source, self.users, self.items)

    # -- the model state ------------------------------------------------------------------
    def write_model(self, folder: Path, params: RecommendParams) -> None:
        """Write the model state (after ``map`` or ``fold``; it only reads the engine's state,
        so it may run on a thread beside ``reduce`` and ``rank``)."""
        if self.model is not None:
            write_state(folder, self.model)
            return
        assert self._read is not None and self._read_from is not None
        paths, events = self._read_from
        with self._pairs_lock:
            store = self._unwritten
        if store is None:  # no map ran: the counts are whole matrices (``adopt``)
            if not self.totals.k11:
                raise ShopscaleError("the model is written once, after map")
            write_batch_model(self, folder, params, events, paths, self._read)
            return
        try:
            write_batch_model(self, folder, params, events, paths, self._read, store)
        finally:
            del store
            self._drop_pairs(written=True)

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
        for m in self.model.counts.k11.values():
            m.sort_indices()  # here, once: from now on the state is only read (write_model may
            # run on another thread beside the reduce, and both would sort in place)
        self._adopting = lists  # the reduce takes the folded state up (``_adopt_folded``)
        m = self.model
        return CatalogSizes(len(m.users), len(m.items), tuple(m.actions), m.history.u.size)

    def close(self) -> None:
        """Close DuckDB and remove its spill folder (and drop votes nobody asked for)."""
        if callable(self._votes):
            self._votes = None
        self.con.close()
        remove_paced(self._tmp, ignore_errors=True)
