"""Reduce per item shard: score one shard of pair counts with ``reduce.score_channel``, order its
kept pairs into ``similar_items`` rows, and collect what the vote matrix needs.

Item shards are consecutive item ranges, so rows of shard after shard, each sorted on its own,
are the rows of one global sort: only one shard's pairs are sorted and decoded at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import scipy.sparse as sp

from shopscale.engine.base import SIMILAR_ITEMS_SCHEMA
from shopscale.engine.local.pairs import Block
from shopscale.engine.local.reduce import (
    Kept,
    PairScoring,
    score_channel,
    similar_rows,
)
from shopscale.ids import IdMap
from shopscale.recommend.model import Counts
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.rules import zero_diagonal
from shopscale.store.files import encoded_schema

BATCH_ROWS = 1_000_000
"""Rows per written batch (and Parquet row group) of ``similar_items``."""


def channel_scorings(
    totals: Counts, channels: list[str], n_users: int, params: RecommendParams
) -> list[PairScoring]:
    """What scoring each channel's pairs needs besides k11. (i, i) scores 0 in the primary
    channel and for classic similarities; with self votes on, in every channel: an item's own
    engagement then votes through its conversion rate instead (``reduce.self_votes``)."""
    return [
        PairScoring(
            totals.left_total,
            totals.right_total[ch],
            n_users,
            zero_diagonal=zero_diagonal(params, ch),
        )
        for ch in channels
    ]


def score_block(
    block: Block, scoring: PairScoring, params: RecommendParams, channel: int, n_items: int
) -> Kept:
    """``score_channel`` on one item shard, items (rows) as global codes.

    Rows are local to the shard, so ``left_total`` is the shard's slice and the kernel skips
    (i, i) at column ``lo`` + row when the scoring zeroes the diagonal.
    """
    m = block.csr(n_items)
    local = PairScoring(
        scoring.left_total[block.lo : block.hi],
        scoring.right_total,
        scoring.n_users,
        zero_diagonal=scoring.zero_diagonal,
    )
    kept = score_channel(m, local, params, channel, diag=block.lo)
    return Kept(
        (kept.items + block.lo).astype(np.int32),
        kept.indicators,
        kept.scores,
        kept.votes,
        kept.channel,
    )


def block_diagonal(block: Block) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """(item, k11(i, i)) of the shard's diagonal entries."""
    rows = np.repeat(np.arange(block.lo, block.hi, dtype=np.int64), np.diff(block.indptr))
    on = rows == block.indices
    return rows[on].astype(np.int32), block.data[on].astype(np.int64)


def diagonal_matrix(
    items: npt.NDArray[np.int32], values: npt.NDArray, n_items: int
) -> sp.csr_matrix:
    """An n_items x n_items matrix holding only the given diagonal entries."""
    order = np.argsort(items, kind="stable")
    rows = items[order].astype(np.int64)
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_items), out=indptr[1:])
    data = np.asarray(values, dtype=np.int64)[order]
    return sp.csr_matrix((data, rows.astype(np.int32), indptr), shape=(n_items, n_items))


@dataclass
class VoteParts:
    """Each channel's kept pairs, shard after shard, merged into one ``Kept`` per channel."""

    n_channels: int
    parts: dict[int, list[Kept]] = field(default_factory=dict)
    diagonals: dict[int, list[tuple[npt.NDArray, npt.NDArray]]] = field(default_factory=dict)

    def add_diagonal(self, channel: int, items: npt.NDArray, values: npt.NDArray) -> None:
        """Hold a shard's diagonal pair counts k11(i, i) of a channel with self votes."""
        self.diagonals.setdefault(channel, []).append((items, values))

    def diagonal(self, channel: int, n_items: int) -> sp.csr_matrix:
        """A channel's diagonal pair counts of every shard, as a matrix (``self_votes``)."""
        parts = self.diagonals.pop(channel, [])
        items = np.concatenate([p[0] for p in parts] + [np.zeros(0, np.int32)])
        values = np.concatenate([p[1] for p in parts] + [np.zeros(0, np.int64)])
        return diagonal_matrix(items, values, n_items)

    def add(self, kept: Kept) -> None:
        """Keep only what the vote matrix reads (scores are written, then dropped)."""
        empty = np.zeros(0)
        slim = Kept(kept.items, kept.indicators, empty, kept.votes, kept.channel)
        self.parts.setdefault(kept.channel, []).append(slim)

    def merged(self) -> list[Kept]:
        """One ``Kept`` per channel, in channel order."""
        return [self._merge(c, self.parts.pop(c, [])) for c in range(self.n_channels)]

    @staticmethod
    def _merge(channel: int, parts: list[Kept]) -> Kept:
        def cat(name: str, dtype: type) -> npt.NDArray:
            return np.concatenate([getattr(k, name) for k in parts] + [np.zeros(0, dtype)])

        return Kept(
            cat("items", np.int32),
            cat("indicators", np.int32),
            np.zeros(0),
            cat("votes", np.float64),
            channel,
        )


ENCODED_IDS = ("item_id", "action", "similar_item_id")
"""``similar_items`` columns the local engine writes as dictionary arrays (``named``)."""
CODES_SCHEMA = pa.schema(
    [
        ("item", pa.int32()),
        ("channel", pa.int16()),
        ("rank", pa.int32()),
        ("similar", pa.int32()),
        ("score", pa.float64()),
    ]
)
"""``similar_items`` rows before naming: item, channel and indicator as codes."""


def similar_batches(kept: list[Kept], channels: list[str]) -> Iterator[pa.RecordBatch]:
    """One shard's kept pairs as ``similar_items`` rows in codes (``CODES_SCHEMA``): by item,
    channel name, score desc, indicator, with the rank within (item, channel)."""
    rows, cols, scores, chan, ranks = similar_rows(kept, channels)  # no sort: see there
    for lo in range(0, rows.size, BATCH_ROWS):
        sl = slice(lo, lo + BATCH_ROWS)
        yield pa.RecordBatch.from_arrays(
            [pa.array(a[sl]) for a in (rows, chan, ranks, cols, scores)], schema=CODES_SCHEMA
        )


def named(batch: pa.RecordBatch, items: IdMap, channels: list[str]) -> pa.RecordBatch:
    """Rows in codes as ``similar_items`` rows whose id columns are dictionary arrays of the
    ids the batch uses: the Parquet writer takes the dictionary as it is (no decoding of two
    ids a row, no hashing of them again); the file reads back as plain strings."""
    names = pa.array(channels, pa.string())
    chan = pa.DictionaryArray.from_arrays(batch.column("channel").cast(pa.int32()), names)
    return pa.RecordBatch.from_arrays(
        [
            items.dictionary(batch.column("item").to_numpy()),
            chan,
            batch.column("rank"),
            items.dictionary(batch.column("similar").to_numpy()),
            batch.column("score"),
        ],
        schema=encoded_schema(SIMILAR_ITEMS_SCHEMA, ENCODED_IDS),
    )


def rebatch(
    batches: Iterable[pa.RecordBatch], size: int = BATCH_ROWS, schema: pa.Schema = CODES_SCHEMA
) -> Iterator[pa.RecordBatch]:
    """The same rows in batches of exactly ``size`` (the last one shorter; one empty batch if
    there are no rows), whatever the shards' sizes: the written file does not depend on them."""
    held: list[pa.RecordBatch] = []
    n_held = total = 0
    for batch in batches:
        held.append(batch)
        n_held += batch.num_rows
        total += batch.num_rows
        while n_held >= size:
            table = pa.Table.from_batches(held, schema)
            yield _one_batch(table.slice(0, size))
            held, n_held = table.slice(size).to_batches(), n_held - size
    if n_held or total == 0:
        yield _one_batch(pa.Table.from_batches(held, schema))


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    """A table as a single record batch (an empty one keeps the schema)."""
    batches = table.combine_chunks().to_batches()
    return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)
