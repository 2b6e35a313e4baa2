"""One published model made ready to answer requests: the string-ordered state and the
serving indicators (vote matrix, item prior, popularity order), built by the batch job's own
reduce code on the state (``LocalEngine`` adopts it, then ``reduce`` runs unchanged).

A ``Served`` is never changed after it is built; a fold builds a new one and the service swaps
the reference, so a request reads one consistent model from start to end.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import re
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from shopscale.engine.local.engine import LocalEngine
from shopscale.engine.local.state import adopt
from shopscale.recommend.model import Counts, History, ModelState, read_state
from shopscale.recommend.pipeline import MODEL_DIR as MODEL
from shopscale.recommend.pipeline import SIMILAR_ITEMS
from shopscale.recommend.rules import popularity_order, prior_votes
from shopscale.recommend.state_files import TABLES
from shopscale.serve.rows import UserRows, user_rows
from shopscale.store.files import PacedFile, read_parquet
from shopscale.store.versions import hold_lease

SERVING = "serving"
"""Folder of a version's ready arrays (``save_prepared``), saved by the fold worker beside the
model, so the server maps them instead of computing them."""
BUNDLE = "serving.npz"
"""The serving indicators alone, as versions saved them before ``SERVING`` (still read)."""
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
class Prepared:
    """Everything a served version answers from that is arrays: computed once, by the fold
    worker (``prepare``, saved with ``save_prepared``), and mapped by the server."""

    state: ModelState
    """String-ordered: code order is id order, as in a batch run. Its pair counts are not
    loaded (the indicators hold what requests need)."""
    indicators: Indicators
    similar: pa.Table
    similar_ptr: npt.NDArray[np.int64]
    user_ptr: npt.NDArray[np.int64]
    """History rows of user u: ``user_ptr[u]:user_ptr[u + 1]``."""
    excluded_ptr: npt.NDArray[np.int64]
    rows: UserRows
    """Per-user arrays for the requests of users without posted events."""
    lease: object = None
    """Held while the arrays are mapped from the version's files (``load_prepared``)."""


def prepare(
    version: Path, state: ModelState | None = None, votes: sp.csr_matrix | None = None
) -> Prepared:
    """Compute a version's arrays: its string-ordered ``state`` (read when not given), the
    indicators (``votes``: the fold's vote matrix, when it ran one), similar-item offsets,
    history offsets and the per-user arrays."""
    if state is None:
        state = read_state(version / MODEL).in_string_order()
    indicators = (
        build_indicators(state, votes) if votes is not None else indicators_of(version, state)
    )
    n_users, n_items = len(state.users), len(state.items)
    similar = read_parquet(version / f"{SIMILAR_ITEMS}.parquet")
    codes = pc.index_in(similar.column("item_id"), value_set=state.items)
    counts = np.bincount(np.asarray(codes.to_numpy(zero_copy_only=False)), minlength=n_items)
    return Prepared(
        state=replace(state, counts=Counts.zeros(0, [])),
        indicators=indicators,
        similar=similar,
        similar_ptr=np.r_[0, np.cumsum(counts)].astype(np.int64),
        user_ptr=_ptr(state.history.u, n_users),
        excluded_ptr=_ptr(state.excluded[0], n_users),
        rows=user_rows(state),
    )


ROWS = tuple(TABLES["history"])
"""The columns of a history (and of the dropped rows), as the model's column files name them."""
ARRAYS = (
    *(f"history_{k}" for k in ROWS),
    *(f"dropped_{k}" for k in ROWS),
    "excluded_u",
    "excluded_i",
    "votes_indptr",
    "votes_indices",
    "votes_data",
    "prior_items",
    "prior_values",
    "popular",
    "similar_ptr",
    "user_ptr",
    "excluded_ptr",
    *(f"rows_{f.name}" for f in fields(UserRows)),
)
"""The ``.npy`` files of a ``SERVING`` folder."""


def _arrays(p: Prepared) -> dict[str, npt.NDArray]:
    """The NumPy arrays of ``p`` by file name."""
    h, ind = p.state.history, p.indicators
    out = {f"history_{k}": getattr(h, k) for k in ROWS}
    out |= {f"dropped_{k}": getattr(p.state.dropped, k) for k in ROWS}
    out |= {"excluded_u": p.state.excluded[0], "excluded_i": p.state.excluded[1]}
    out |= dict(zip(("votes_indptr", "votes_indices", "votes_data"), ind.votes, strict=True))
    out |= {"prior_items": ind.prior[0], "prior_values": ind.prior[1], "popular": ind.popular}
    out |= {"similar_ptr": p.similar_ptr, "user_ptr": p.user_ptr, "excluded_ptr": p.excluded_ptr}
    out |= {f"rows_{f.name}": getattr(p.rows, f.name) for f in fields(UserRows)}
    assert tuple(out) == ARRAYS
    return out


def save_prepared(folder: Path, p: Prepared) -> None:
    """Write ``p`` into ``folder`` (inside a version being staged: published with it): one
    ``.npy`` per array, ids and similar items as Arrow IPC files, so a load maps them."""
    folder.mkdir(parents=True)
    for name, arr in _arrays(p).items():
        with PacedFile(folder / f"{name}.npy") as fh:
            np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
    tables = {
        "users": pa.table({"user_id": p.state.users}),
        "items": pa.table({"item_id": p.state.items}),
        "similar": p.similar,
    }
    for name, table in tables.items():
        path = folder / f"{name}.arrow"
        with PacedFile(path) as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)


def load_prepared(version: Path) -> Prepared | None:
    """Map what ``save_prepared`` wrote for ``version`` (None if it wrote nothing): reading
    pages on first use, so the serving process does next to no work (nor holds the GIL)
    when it swaps to a new version."""
    folder = version / SERVING
    if not (folder / "similar.arrow").is_file():
        return None
    if not all((folder / f"{name}.npy").is_file() for name in ARRAYS):
        return None  # saved by an older shopscale (no event counts): computed anew
    lease = _Lease(hold_lease(folder))  # before mapping: the version is not pruned under us
    a = {name: _map(folder / f"{name}.npy") for name in ARRAYS}
    t = {name: _map_table(folder / f"{name}.arrow") for name in ("users", "items", "similar")}
    meta = read_state(version / MODEL, arrays=False)
    state = replace(
        meta,
        users=t["users"].column(0).combine_chunks(),
        items=t["items"].column(0).combine_chunks(),
        history=History(*(a[f"history_{k}"] for k in ROWS)),
        dropped=History(*(a[f"dropped_{k}"] for k in ROWS)),
        excluded=(a["excluded_u"], a["excluded_i"]),
    )
    indicators = _indicators(a)
    rows = UserRows(**{f.name: a[f"rows_{f.name}"] for f in fields(UserRows)})
    return Prepared(
        state,
        indicators,
        t["similar"],
        a["similar_ptr"],
        a["user_ptr"],
        a["excluded_ptr"],
        rows,
        lease,
    )


class _Lease:
    """A held lease (``store.versions.hold_lease``), released when the last model that maps
    the version is dropped."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def indicators_of(version: Path, state: ModelState) -> Indicators:
    """A version's serving indicators: saved (``SERVING``, or an older version's ``BUNDLE``),
    else built from its string-ordered ``state``."""
    folder = version / SERVING
    if (folder / "votes_data.npy").is_file():
        names = [n for n in ARRAYS if n.startswith(("votes", "prior", "popular"))]
        return _indicators({name: _map(folder / f"{name}.npy") for name in names})
    bundle = version / BUNDLE
    return Indicators.load(bundle) if bundle.is_file() else build_indicators(state)


def _indicators(a: dict[str, npt.NDArray]) -> Indicators:
    """The indicators among mapped ``SERVING`` arrays (by file name)."""
    return Indicators(
        (a["votes_indptr"], a["votes_indices"], a["votes_data"]),
        (a["prior_items"], a["prior_values"]),
        a["popular"],
    )


def _map(path: Path) -> npt.NDArray:
    """A ``.npy`` file mapped copy-on-write, as a plain ndarray (numba then sees the same
    writable array type as for computed arrays, and compiles nothing new)."""
    return np.asarray(np.load(path, mmap_mode="c", allow_pickle=False))


def _map_table(path: Path) -> pa.Table:
    """An Arrow IPC file, memory-mapped (zero copy)."""
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


@dataclass(frozen=True)
class Served:
    """A published model version as the server answers from it."""

    version: Path
    state: ModelState
    """String-ordered: code order is id order, as in a batch run (pair counts not loaded)."""
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
    lease: object = None
    """The version's lease while its arrays are mapped: no prune removes it meanwhile."""

    def user_code(self, user_id: str) -> int:
        """The user's code, or -1 (bisecting the sorted ids: a dict of every user would
        cost the serving process a second of GIL-holding work at each swap)."""
        k = bisect.bisect_left(self.users, user_id)
        return k if k < len(self.users) and self.users[k] == user_id else -1


def load_served(version: Path, wal_id: str) -> Served:
    """Load a version: its arrays as the fold worker saved them (``SERVING``), else
    computed now (a version ``recommend`` published), and the checkpoint of log ``wal_id``."""
    p = load_prepared(version) or prepare(version)
    return Served(
        version=version,
        state=p.state,
        indicators=p.indicators,
        users=_pylist(p.state.users),
        items=_pylist(p.state.items),
        user_ptr=p.user_ptr,
        excluded_ptr=p.excluded_ptr,
        similar=p.similar,
        similar_ptr=p.similar_ptr,
        checkpoint=checkpoint(p.state, wal_id),
        loaded_at=time.time(),
        rows=p.rows,
        lease=p.lease,
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
