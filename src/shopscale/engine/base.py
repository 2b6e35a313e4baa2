"""The engine contract: the stages of the recommendation job, each engine moving data natively.

``recommend.pipeline`` calls these in one fixed order (read -> validate -> encode -> map ->
reduce -> rank -> write). Engines own their data between stages; what crosses the contract is
small (counts, sizes) or an output. An output is either streamed back as Arrow record batches in
the output schema, which the pipeline writes (the local engine), or written by the engine's own
workers into the staging path the pipeline gives (a distributed engine: a folder of Parquet
parts, ``Written``), so nothing proportional to users x items passes through one process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from shopscale.events import EventsParams
from shopscale.recommend.params import RecommendParams

RECOMMENDATIONS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("rank", pa.int32()),
        ("item_id", pa.string()),
        ("score", pa.float64()),
        ("source", pa.string()),
    ]
)
SIMILAR_ITEMS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("action", pa.string()),
        ("rank", pa.int32()),
        ("similar_item_id", pa.string()),
        ("score", pa.float64()),
    ]
)
STATISTICS = {
    "recommendations": ("user_id", "rank", "source"),
    "similar_items": ("item_id", "action", "rank"),
}
"""Per output, the columns with Parquet statistics: those a reader filters by (a user, an
item and action, the top ranks). Min/max of the other ids and the scores skip nothing and
cost more to write (the similar item's id: ~40 % of writing ``similar_items``)."""
PLAIN = {"recommendations": ("score",), "similar_items": ()}
"""Per output, the Parquet columns written without a dictionary: the lists' scores are sums
that hardly repeat (a dictionary per page is built and dropped: half the CPU of writing the
recommendations); the similar items' scores repeat (a dictionary makes the file ~12 %
smaller at no cost in time)."""


@dataclass
class ReadCounts:
    """Rows read = accepted + rejected; ``rejects`` is (file, line, reason, row) per reject."""

    rows_read: int
    accepted: int
    rejected: int
    rejects: pa.Table
    timed: bool
    """Every file had real timestamps; otherwise times are file order and do not decay.
    No default: an engine must say, or file order would silently decay as if it were time."""
    files: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    """An output an engine wrote itself: a folder of Parquet part files at ``path`` (read as
    one data set by pyarrow and DuckDB), with its row count and, for recommendations, the
    users whose first entry came from the model."""

    path: Path
    rows: int
    model_users: int = 0


Output = Iterator[pa.RecordBatch] | Written
"""What ``reduce`` and ``rank`` give: batches for the pipeline to write, or ``Written``."""


@dataclass(frozen=True)
class CatalogSizes:
    """Sizes after encoding and downsampling."""

    users: int
    items: int
    actions: tuple[str, ...]
    interactions: int


class Engine(Protocol):
    """What an engine implements; every method is one stage of the job."""

    name: str
    model_beside_reduce: bool
    """True if ``write_model`` may run on a thread while ``reduce`` and ``rank`` run (it only
    reads the engine's state); else the job writes the model between ``map`` and ``reduce``."""

    def read(self, paths: Sequence[Path], params: EventsParams) -> ReadCounts:
        """Parse and validate every file; keep accepted events inside the engine."""
        ...

    def encode(self, params: RecommendParams) -> CatalogSizes:
        """Give ids dense codes in string order; dedupe and downsample interactions."""
        ...

    def map(self, params: RecommendParams) -> None:
        """Count co-occurrences per shard of users (the map side)."""
        ...

    def write_model(self, folder: Path, params: RecommendParams) -> None:
        """Write the model state (``recommend.model``: ids, histories, counts, settings) into
        ``folder``, so ``update`` can continue it; called after ``map`` (and beside ``reduce``
        and ``rank`` when ``model_beside_reduce``)."""
        ...

    def reduce(self, params: RecommendParams, dest: Path) -> Output:
        """Sum the shard counts, score pairs and keep the top similar items per item; the
        similar items are yielded (string ids may come as dictionary arrays, which
        ``store.files.write_batches`` writes as they are), or written to ``dest``
        (``Written``)."""
        ...

    def rank(self, params: RecommendParams, dest: Path) -> Output:
        """Score candidates for every user and keep the top n (with backfill); the lists are
        yielded, or written to ``dest`` (``Written``)."""
        ...

    def close(self) -> None:
        """Release resources (connections, temp files, sessions)."""
        ...
