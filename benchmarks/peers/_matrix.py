"""What every peer shares, end to end like shopscale: read the log (CSV or Parquet), encode ids,
build X, write top-N.

A peer is a script ``peers/<name>.py`` whose ``recommend(data) -> TopN`` holds only its
algorithm; ``run_peer`` times the stages around it and prints them as one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import scipy.sparse as sp

N = 10  # list length
SCHEMA = {"user_id": pa.string(), "action": pa.string(), "item_id": pa.string()}


@dataclass(frozen=True)
class Interactions:
    """The binary user x item matrix of all actions, the purchases, and the id names."""

    seen: sp.csr_matrix  # float32, 1 where the user did anything with the item
    purchased: sp.csr_matrix  # float32, 1 where the user purchased the item
    user_names: pa.Array
    item_names: pa.Array


@dataclass(frozen=True)
class TopN:
    """Top-N lists as flat arrays ordered by user, then rank."""

    user: np.ndarray
    item: np.ndarray
    score: np.ndarray


def read_table(path: Path) -> pa.Table:
    """The user, action and item columns of a CSV or Parquet log, ids as strings."""
    if path.suffix.lower() in (".parquet", ".pq"):
        table = pq.read_table(path, columns=list(SCHEMA))
        return table.cast(pa.schema(list(SCHEMA.items())))
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types=SCHEMA, include_columns=["user_id", "action", "item_id"]
        ),
    )


def read_interactions(path: Path) -> Interactions:
    """Read the log with pyarrow, dictionary-encode ids, build binary CSR matrices."""
    table = read_table(path)
    users = pc.dictionary_encode(table["user_id"].combine_chunks())
    items = pc.dictionary_encode(table["item_id"].combine_chunks())
    u = users.indices.to_numpy()
    i = items.indices.to_numpy()
    shape = (len(users.dictionary), len(items.dictionary))
    bought = pc.equal(table["action"], "purchased").combine_chunks().to_numpy(zero_copy_only=False)
    return Interactions(
        binary_csr(u, i, shape),
        binary_csr(u[bought], i[bought], shape),
        users.dictionary,
        items.dictionary,
    )


def binary_csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A 0/1 float32 CSR matrix with a 1 at each (row, col) pair (duplicates collapse)."""
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def top_k_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row (ties: lower column first), vectorised."""
    m = m.tocsr()
    m.sum_duplicates()
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    order = np.lexsort((m.indices, -m.data, rows))
    rank = np.arange(len(order)) - m.indptr[rows[order]]
    keep = order[rank < k]
    keep.sort()  # back to CSR order: by row, then column
    kept = np.bincount(rows[keep], minlength=m.shape[0])
    indptr = np.concatenate(([0], np.cumsum(kept)))
    return sp.csr_matrix((m.data[keep], m.indices[keep], indptr), shape=m.shape)


def top_n_lists(scores: sp.csr_matrix, first_user: int, n: int = N) -> TopN:
    """The ``n`` best (positive) entries of each row, ordered by user then descending score."""
    scores = scores.tocsr()
    scores.eliminate_zeros()
    rows = np.repeat(np.arange(scores.shape[0]), np.diff(scores.indptr))
    order = np.lexsort((scores.indices, -scores.data, rows))
    rank = np.arange(len(order)) - scores.indptr[rows[order]]
    keep = order[rank < n]
    return TopN(rows[keep] + first_user, scores.indices[keep], scores.data[keep])


def write_top_n(top: TopN, data: Interactions, out: Path) -> int:
    """Write ``recommendations.parquet`` (user_id, rank, item_id, score); return its rows."""
    starts = np.flatnonzero(np.r_[True, top.user[1:] != top.user[:-1]]) if len(top.user) else []
    rank = np.arange(len(top.user)) - np.repeat(starts, np.diff(np.r_[starts, len(top.user)]))
    table = pa.table(
        {
            "user_id": data.user_names.take(pa.array(top.user)),
            "rank": pa.array(rank + 1, pa.int32()),
            "item_id": data.item_names.take(pa.array(top.item)),
            "score": pa.array(top.score, pa.float32()),
        }
    )
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "recommendations.parquet")
    return table.num_rows


@contextmanager
def stage(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the block to ``timings[name]``."""
    start = time.perf_counter()
    yield
    timings[name] = round(time.perf_counter() - start, 3)


def run_peer(recommend: Callable[[Interactions, dict[str, float]], TopN]) -> None:
    """``<peer>.py EVENTS_FILE OUT_DIR`` (CSV or Parquet): read, recommend, write; print timings
    as JSON."""
    csv_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    timings: dict[str, float] = {}
    with stage(timings, "read+encode"):
        data = read_interactions(csv_path)
    top = recommend(data, timings)
    with stage(timings, "write"):
        rows = write_top_n(top, data, out)
    print(
        json.dumps(
            {
                "stages": timings,
                "rows": rows,
                "users": data.seen.shape[0],
                "items": data.seen.shape[1],
                "nnz": int(data.seen.nnz),
            }
        )
    )
