"""One published model made ready to answer requests: the string-ordered state and the
serving indicators (vote matrix, item prior, popularity order), built by the batch job's own
reduce code on the state (``LocalEngine`` adopts it, then ``reduce`` runs unchanged).

A ``Served`` is never changed after it is built; a fold builds a new one and the service swaps
the reference, so a request reads one consistent model from start to end.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import scipy.sparse as sp

from shopscale.engine.local.engine import LocalEngine
from shopscale.engine.local.state import adopt
from shopscale.recommend.model import ModelState, read_state
from shopscale.recommend.pipeline import MODEL_DIR as MODEL
from shopscale.recommend.pipeline import SIMILAR_ITEMS
from shopscale.recommend.rules import popularity_order, prior_votes
from shopscale.serve.rows import UserRows, user_rows

BUNDLE = "serving.npz"
"""Serving indicators a fold saves beside the model, so the server only loads them."""
FOLD_FILE = re.compile(r"wal-(?P<wal>[0-9a-f]+)-(?P<start>\d+)-(?P<end>\d+)\.jsonl$")
"""Name of the file a server fold reads: the log's id and the positions it covers. The model
state lists every file folded, so it records how far the log is folded (the checkpoint)."""

CSR = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]]


@dataclass(frozen=True)
class Indicators:
    """What ``rank`` reads besides a user's history: votes, the prior and popularity order."""

    votes: CSR
    prior: tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]
    popular: npt.NDArray[np.int32]

    def save(self, path: Path) -> None:
        """Write the indicators as one NumPy archive."""
        np.savez(
            path,
            indptr=self.votes[0],
            indices=self.votes[1],
            data=self.votes[2],
            prior_items=self.prior[0],
            prior_values=self.prior[1],
            popular=self.popular,
        )

    @classmethod
    def load(cls, path: Path) -> Indicators:
        """Read indicators written by ``save``."""
        with np.load(path) as z:
            return cls(
                (z["indptr"], z["indices"], z["data"]),
                (z["prior_items"].astype(np.int32), z["prior_values"].astype(np.float64)),
                z["popular"].astype(np.int32),
            )


def build_indicators(state: ModelState, votes: sp.csr_matrix | None = None) -> Indicators:
    """The batch job's reduce on a string-ordered state, and rank's popularity and prior;
    ``votes``: that reduce's vote matrix when the caller ran it already (a fold)."""
    params = state.params
    if votes is None:
        eng = LocalEngine(threads=1)
        try:
            adopt(eng, state)
            for _ in eng.reduce(params):
                pass
            votes = eng.votes
        finally:
            eng.close()
    m = votes
    arrays = (m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(np.float64))
    c = state.counts
    # as LocalEngine.rank: popularity ties by item, only items seen after downsampling
    popular = popularity_order(c.pop_any, c.pop_primary)
    prior = prior_votes(c.unprompted, c.left_total, state.n_users, params)
    return Indicators(arrays, prior, popular)


@dataclass(frozen=True)
class Served:
    """A published model version as the server answers from it."""

    version: Path
    state: ModelState
    """String-ordered: code order is id order, as in a batch run."""
    indicators: Indicators
    users: list[str]
    items: list[str]
    user_ptr: npt.NDArray[np.int64]
    """History rows of user u: ``user_ptr[u]:user_ptr[u + 1]``."""
    excluded_ptr: npt.NDArray[np.int64]
    similar: pa.Table
    similar_ptr: npt.NDArray[np.int64]
    checkpoint: int
    """The log position folded into this model (every record before it is in)."""
    loaded_at: float
    rows: UserRows
    """Per-user arrays for the requests of users without posted events."""
    user_codes: dict[str, int]

    def user_code(self, user_id: str) -> int:
        """The user's code, or -1 (a dict: bisecting 10^5+ strings costs more per request)."""
        return self.user_codes.get(user_id, -1)


def load_served(version: Path, wal_id: str) -> Served:
    """Load a version: its state, indicators (saved by a fold, else built now), similar
    items and the checkpoint of log ``wal_id``."""
    state = read_state(version / MODEL).in_string_order()
    users = _pylist(state.users)
    bundle = version / BUNDLE
    indicators = Indicators.load(bundle) if bundle.is_file() else build_indicators(state)
    n_users, n_items = len(state.users), len(state.items)
    similar = pq.read_table(version / f"{SIMILAR_ITEMS}.parquet")
    codes = pc.index_in(similar.column("item_id"), value_set=state.items)
    counts = np.bincount(np.asarray(codes.to_numpy(zero_copy_only=False)), minlength=n_items)
    return Served(
        version=version,
        state=state,
        indicators=indicators,
        users=users,
        items=_pylist(state.items),
        user_ptr=_ptr(state.history.u, n_users),
        excluded_ptr=_ptr(state.excluded[0], n_users),
        similar=similar,
        similar_ptr=np.r_[0, np.cumsum(counts)].astype(np.int64),
        checkpoint=checkpoint(state, wal_id),
        loaded_at=time.time(),
        rows=user_rows(state),
        user_codes={user: u for u, user in enumerate(users)},
    )


def _pylist(values: pa.Array, chunk: int = 32_768) -> list[str]:
    """``values.to_pylist()`` in slices: a fold loads the next model on a thread while the
    loop serves, and one conversion of 500k ids would hold the GIL for ~0.1 s at once."""
    out: list[str] = []
    for start in range(0, len(values), chunk):
        out.extend(values.slice(start, chunk).to_pylist())
    return out


def _ptr(sorted_codes: npt.NDArray, n: int) -> npt.NDArray[np.int64]:
    """CSR row pointers of rows sorted by code."""
    return np.searchsorted(sorted_codes, np.arange(n + 1)).astype(np.int64)


def checkpoint(state: ModelState, wal_id: str) -> int:
    """How far log ``wal_id`` is folded into ``state``: the end of its last fold file."""
    ends = [0]
    for entry in state.files:
        found = FOLD_FILE.search(str(entry["file"]))
        if found and found["wal"] == wal_id:
            ends.append(int(found["end"]))
    return max(ends)
