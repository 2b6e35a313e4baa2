"""The persistent model state: everything ``update`` and a server need to continue without the
raw log, in engine-neutral columnar files (docs/model.md describes every file and column).

Codes are append-only (``shopscale.ids.append_ids``); ``ModelState.in_string_order`` gives the
same state with codes in id string order, the space the reduce and rank rules run in.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from shopscale.config import make_params
from shopscale.errors import ShopscaleError
from shopscale.events import EventsParams
from shopscale.ids import string_order
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.state_files import read_columns, write_columns
from shopscale.store.files import PacedFile, atomic_path, read_parquet, write_json

FORMAT_VERSION = 4
"""Written into ``state.json``; bump it when a file or column changes meaning (2: history,
excluded and pairs as NumPy column files instead of Parquet; 3: pairs as one CSR instead of
rows; 4: event counts ``history/n`` and the rows the window dropped, ``dropped/``)."""
COUNTED_SINCE = 4
"""The first format whose histories count events: older models fold and serve as before,
but ``repeats = "count"`` is refused on them (``ModelState.counted``)."""
OLDEST_READABLE = 1
"""The oldest ``format_version`` this program still reads."""
STATE = "state.json"
HISTORY = "history"
EXCLUDED = "excluded"
DROPPED = "dropped"
PAIRS = "pairs"
PAIRS_SCHEMA = pa.schema(
    [("c", pa.int16()), ("i", pa.int32()), ("j", pa.int32()), ("k11", pa.int32())]
)
ITEM_COUNTS = ("left_total", "pop_any", "pop_primary", "unprompted")

Int = npt.NDArray[np.int64]


@dataclass
class History:
    """Interaction rows (user, action, item, latest time, events), sorted by (u, a, i);
    ``n`` counts the events of the row's (user, action, item) in the whole log."""

    u: npt.NDArray[np.int32]
    a: npt.NDArray[np.int8]
    i: npt.NDArray[np.int32]
    t: npt.NDArray[np.int64]
    n: npt.NDArray[np.int32]

    @classmethod
    def empty(cls) -> History:
        """No rows."""
        z = np.zeros(0, dtype=np.int32)
        return cls(z, z.astype(np.int8), z, z.astype(np.int64), z.copy())

    def take(self, rows: npt.NDArray | slice) -> History:
        """The given rows, in that order (a slice gives views, no copy)."""
        return History(self.u[rows], self.a[rows], self.i[rows], self.t[rows], self.n[rows])

    def columns(self) -> dict[str, npt.NDArray]:
        """The columns by name (as the column files store them)."""
        return {"u": self.u, "a": self.a, "i": self.i, "t": self.t, "n": self.n}

    def sorted(self) -> History:
        """The rows sorted by (u, a, i)."""
        return self.take(np.lexsort((self.i, self.a, self.u)))

    def is_sorted(self) -> bool:
        """Whether the rows are strictly increasing in (u, a, i) (sorted, no duplicates)."""
        return bool(strictly_increasing(self.u, self.a, self.i))


@numba.njit(cache=True, nogil=True)
def strictly_increasing(u, a, i):
    """True if the rows (u, a, i) strictly increase: one pass, no temporaries (a 10M-row
    history is checked at every load; each shard the local engine reads, too)."""
    for r in range(1, u.size):
        if u[r] != u[r - 1]:
            if u[r] < u[r - 1]:
                return False
        elif a[r] != a[r - 1]:
            if a[r] < a[r - 1]:
                return False
        elif i[r] <= i[r - 1]:
            return False
    return True


@dataclass
class Counts:
    """Every sum over users the scores need: pair counts per channel and item marginals.

    ``k11[ch][i, j]``: users with the left action (primary; any action for classic
    similarities) on i and ``ch`` on j. ``left_total``/``right_total[ch]``: users per item of
    either side; ``pop_any``/``pop_primary``: popularity; ``unprompted``: see
    ``ranking.unprompted_prior``.
    """

    k11: dict[str, sp.csr_matrix]
    left_total: Int
    right_total: dict[str, Int]
    pop_any: Int
    pop_primary: Int
    unprompted: Int

    @classmethod
    def zeros(cls, n_items: int, channels: list[str]) -> Counts:
        """All counts 0 (nobody counted yet)."""
        z = lambda: np.zeros(n_items, dtype=np.int64)  # noqa: E731
        return cls(
            {ch: sp.csr_matrix((n_items, n_items), dtype=np.int32) for ch in channels},
            z(),
            {ch: z() for ch in channels},
            z(),
            z(),
            z(),
        )

    def add(self, other: Counts, sign: int = 1) -> None:
        """Add (sign 1) or subtract (sign -1) another set of counts over the same items."""
        for ch, part in other.k11.items():
            self.k11[ch] = add_sorted(self.k11[ch], part, sign)
            self.right_total[ch] += sign * other.right_total[ch]
        for name in ITEM_COUNTS:
            getattr(self, name)[:] += sign * getattr(other, name)

    def resized(self, n_items: int, channels: list[str]) -> Counts:
        """The same counts over ``n_items`` items (new items count 0) and ``channels`` (a
        new channel counts 0); the pair counts are shared, not copied."""
        n_old = self.left_total.size
        grown = Counts.zeros(n_items, channels)
        for ch in channels:
            if ch in self.k11:
                m = self.k11[ch]
                indptr = np.r_[m.indptr, np.full(n_items - n_old, m.indptr[-1], m.indptr.dtype)]
                grown.k11[ch] = sp.csr_matrix((m.data, m.indices, indptr), (n_items, n_items))
                grown.right_total[ch][:n_old] = self.right_total[ch]
        for name in ITEM_COUNTS:
            getattr(grown, name)[:n_old] = getattr(self, name)
        return grown


@dataclass
class ModelState:
    """A model as stored: ids (code -> id), histories, extra exclusions, counts, settings."""

    users: pa.Array
    items: pa.Array
    actions: list[str]
    channels: list[str]
    history: History
    excluded: tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]
    """(u, i) of excluded items downsampling dropped from the history (``exclude`` mode)."""
    dropped: History
    """Every (u, a, i) the window dropped, with its latest time and events: a row that comes
    back into a window (a new event beats it) brings its old events (format 4)."""
    counts: Counts
    t_ref: int
    timed: bool
    next_position: int
    """``t`` of the next row of an untimed file (the rows read so far, in file order)."""
    params: RecommendParams
    events: EventsParams
    files: list[dict[str, Any]] = field(default_factory=list)
    """Every input file folded so far: ``{"file": path, "sha256": hex}``."""
    counted: bool = True
    """Whether ``history.n`` and ``dropped`` count every event (a model first built by a
    format-3 shopscale or by the Spark engine does not: it is folded and served as before,
    and ``repeats = "count"`` is refused on it)."""

    @property
    def n_users(self) -> int:
        """N, the number of distinct users."""
        return len(self.users)

    def in_string_order(self, *, histories: bool = True, pairs: bool = True) -> ModelState:
        """The same state with user and item codes in id string order (ties by id).

        ``histories=False`` leaves the history and exclusions empty (scoring items needs
        only the counts; ranking users needs the histories too); ``pairs=False`` drops the
        pair counts (serving a reduce's indicators needs only the item counts)."""
        u_order, u_rank = string_order(self.users)
        i_order, i_rank = string_order(self.items)
        if _identity(u_order) and _identity(i_order):
            return self
        h, d = self.history, self.dropped
        if not histories:
            h, d = h.take(np.zeros(0, dtype=np.int64)), d.take(np.zeros(0, dtype=np.int64))
        history = History(u_rank[h.u], h.a, i_rank[h.i], h.t, h.n).sorted()
        dropped = History(u_rank[d.u], d.a, i_rank[d.i], d.t, d.n).sorted()
        eu, ei = self.excluded if histories else (h.u, h.i)
        eu, ei = u_rank[eu], i_rank[ei]
        ex = np.lexsort((ei, eu))
        c = self.counts
        counts = Counts(
            {ch: _permute(m, i_rank) for ch, m in c.k11.items()} if pairs else {},
            c.left_total[i_order],
            {ch: v[i_order] for ch, v in c.right_total.items()},
            c.pop_any[i_order],
            c.pop_primary[i_order],
            c.unprompted[i_order],
        )
        return replace(
            self,
            users=self.users.take(pa.array(u_order)),
            items=self.items.take(pa.array(i_order)),
            history=history,
            excluded=(eu[ex], ei[ex]),
            dropped=dropped,
            counts=counts,
        )


def _identity(order: npt.NDArray) -> bool:
    """Whether a permutation changes nothing."""
    return bool(np.array_equal(order, np.arange(order.size)))


def _permute(m: sp.csr_matrix, rank: npt.NDArray[np.int32]) -> sp.csr_matrix:
    """Rows and columns of a square CSR renumbered by ``rank``, indices sorted."""
    m = m.tocsr()
    lengths = np.zeros(m.shape[0] + 1, dtype=np.int64)
    lengths[1:][rank] = np.diff(m.indptr)
    indptr = np.cumsum(lengths)
    indices = np.empty(m.nnz, dtype=np.int32)
    data = np.empty(m.nnz, dtype=m.data.dtype)
    _permute_rows(m.indptr.astype(np.int64), m.indices, m.data, rank, indptr, indices, data)
    out = sp.csr_matrix((data, indices, indptr), shape=m.shape)
    out.has_sorted_indices = True
    return out


@numba.njit(cache=True, nogil=True)
def _permute_rows(indptr, indices, data, rank, new_indptr, new_indices, new_data):
    """Each row r copied to row rank[r] with its columns renamed by ``rank`` and sorted (one
    pass, a sort only where renaming broke a row's order): no COO, no global sort."""
    for r in range(indptr.size - 1):
        lo, hi = indptr[r], indptr[r + 1]
        at = new_indptr[rank[r]]
        ordered = True
        for x in range(lo, hi):
            new_indices[at + x - lo] = rank[indices[x]]
            new_data[at + x - lo] = data[x]
            if x > lo and new_indices[at + x - lo] < new_indices[at + x - lo - 1]:
                ordered = False
        if not ordered:
            n = hi - lo
            order = np.argsort(new_indices[at : at + n])
            cols = new_indices[at : at + n][order]
            vals = new_data[at : at + n][order]
            new_indices[at : at + n] = cols
            new_data[at : at + n] = vals


def add_sorted(m: sp.csr_matrix, part: sp.csr_matrix, sign: int = 1) -> sp.csr_matrix:
    """``m + sign * part`` without the entries that sum to 0 (a pair nobody shares any more
    is no pair), indices sorted: what SciPy's sum and ``eliminate_zeros`` give, in one merge
    of each row on both cores (SciPy's merge runs on one and leaves zeros to a second pass).
    Counts are integers (summed as int64, stored in the two inputs' common type)."""
    m, part = m.tocsr(), part.tocsr()
    m.sum_duplicates()  # (no work when already canonical)
    part.sum_duplicates()
    dtype = np.result_type(m.data.dtype, part.data.dtype)
    a_ptr, b_ptr = m.indptr.astype(np.int64), part.indptr.astype(np.int64)
    lengths = np.zeros(m.shape[0] + 1, dtype=np.int64)
    _merge_rows(a_ptr, m.indices, m.data, b_ptr, part.indices, part.data, sign, lengths[1:])
    indptr = np.cumsum(lengths)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    data = np.empty(int(indptr[-1]), dtype=dtype)
    _merge_rows_into(a_ptr, m.indices, m.data, b_ptr, part.indices, part.data, sign, indptr,
                     indices, data)  # fmt: skip
    out = sp.csr_matrix((data, indices, indptr), shape=m.shape)
    out.has_sorted_indices = True
    out.has_canonical_format = True
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def _merge_rows(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, sign, lengths):
    """Per row, the entries of the merged row with a nonzero sum."""
    for r in numba.prange(a_ptr.size - 1):
        lengths[r] = _merge_row(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, sign, r, 0, a_idx,
                                a_val, False)  # fmt: skip


@numba.njit(cache=True, nogil=True, parallel=True)
def _merge_rows_into(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, sign, indptr, idx, val):
    """Each merged row written at its offset ``indptr[r]``."""
    for r in numba.prange(a_ptr.size - 1):
        _merge_row(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, sign, r, indptr[r], idx, val, True)


@numba.njit(cache=True, nogil=True, inline="always")
def _merge_row(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, sign, r, at, idx, val, write):
    """Merge row r of a and sign * row r of b (both sorted by column), skipping zero sums;
    write the entries from ``at`` when ``write``; return how many there are."""
    x, x_end, y, y_end, n = a_ptr[r], a_ptr[r + 1], b_ptr[r], b_ptr[r + 1], 0
    while x < x_end or y < y_end:
        if y == y_end or (x < x_end and a_idx[x] < b_idx[y]):
            c, v = a_idx[x], np.int64(a_val[x])
            x += 1
        elif x == x_end or b_idx[y] < a_idx[x]:
            c, v = b_idx[y], np.int64(sign * b_val[y])
            y += 1
        else:
            c, v = a_idx[x], np.int64(a_val[x] + sign * b_val[y])
            x += 1
            y += 1
        if v != 0:
            if write:
                idx[at + n] = c
                val[at + n] = v
            n += 1
    return n


def file_sha256(path: Path) -> str:
    """Content hash of an input file (how ``update`` knows a file was folded already)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_state(
    folder: Path, state: ModelState, *, histories: bool = True, pairs: bool = True
) -> None:
    """Write every state file into ``folder``; ``state.json`` last (its presence = complete).

    ``histories=False``: the caller wrote the ``HISTORY`` and ``EXCLUDED`` tables already (an engine
    streaming its own tables), so ``state.history`` and ``state.excluded`` are not used;
    ``pairs=False``: likewise for the ``pairs`` table and ``state.counts.k11``."""
    folder.mkdir(parents=True, exist_ok=True)
    _parquet(folder / "users.parquet", pa.table({"user_id": state.users}))
    _parquet(folder / "items.parquet", pa.table({"item_id": state.items}))
    if histories:
        write_columns(folder, HISTORY, state.history.columns())
        write_columns(folder, EXCLUDED, {"u": state.excluded[0], "i": state.excluded[1]})
        write_columns(folder, DROPPED, state.dropped.columns())
    if pairs:
        write_columns(folder, PAIRS, _pair_csr(state.counts, state.channels, len(state.items)))
    c = state.counts
    cols = {name: getattr(c, name) for name in ITEM_COUNTS}
    cols |= {f"right_total_{n}": c.right_total[ch] for n, ch in enumerate(state.channels)}
    _parquet(folder / "item_counts.parquet", pa.table(cols))
    write_json(folder / STATE, _meta(state))


def _meta(state: ModelState) -> dict[str, Any]:
    """The small facts of ``state.json``."""
    return {
        "format_version": FORMAT_VERSION,
        "n_users": state.n_users,
        "n_items": len(state.items),
        "t_ref": state.t_ref,
        "timed": state.timed,
        "next_position": state.next_position,
        "actions": state.actions,
        "channels": state.channels,
        "params": asdict(state.params),
        "events": asdict(state.events),
        "files": state.files,
        "counted": state.counted,
    }


def _parquet(path: Path, table: pa.Table) -> None:
    """One Parquet file, written atomically."""
    with atomic_path(path) as tmp, PacedFile(tmp) as fh:
        pq.write_table(table, fh, compression="zstd")


def _pair_columns(counts: Counts, channels: list[str]) -> dict[str, npt.NDArray]:
    """Every channel's pair counts as columns (c, i, j, k11) sorted by (c, i, j)."""
    parts: dict[str, list[npt.NDArray]] = {"c": [], "i": [], "j": [], "k11": []}
    for c, ch in enumerate(channels):
        m = counts.k11[ch].tocsr()
        m.sort_indices()
        rows = np.repeat(np.arange(m.shape[0], dtype=np.int32), np.diff(m.indptr))
        parts["c"].append(np.full(rows.size, c, np.int16))
        parts["i"].append(rows)
        parts["j"].append(m.indices.astype(np.int32, copy=False))
        parts["k11"].append(m.data.astype(np.int32, copy=False))
    empty = {"c": np.int16, "i": np.int32, "j": np.int32, "k11": np.int32}
    return {
        name: np.concatenate(arrs) if arrs else np.zeros(0, empty[name])
        for name, arrs in parts.items()
    }


def _pair_csr(counts: Counts, channels: list[str], n_items: int) -> dict[str, npt.NDArray]:
    """Every channel's pair counts as one CSR over rows ``c * n_items + i`` (columns sorted):
    the channels' own arrays one after the other, nothing expanded per pair."""
    indptr, j, k11, at = [np.zeros(1, np.int64)], [], [], 0
    for ch in channels:
        m = counts.k11[ch].tocsr()
        m.sort_indices()
        indptr.append(m.indptr[1:].astype(np.int64) + at)
        j.append(m.indices.astype(np.int32, copy=False))
        k11.append(m.data.astype(np.int32, copy=False))
        at += m.nnz
    if sum(p.size for p in indptr) != len(channels) * n_items + 1:
        raise ShopscaleError(f"pair counts over {n_items} items expected")
    empty = [np.zeros(0, np.int32)]
    return {
        "indptr": np.concatenate(indptr),
        "j": np.concatenate(j + empty),
        "k11": np.concatenate(k11 + empty),
    }


def _pairs_table(counts: Counts, channels: list[str]) -> pa.Table:
    """Every channel's pair counts as rows (c, i, j, k11) sorted by (c, i, j)."""
    return pa.table(_pair_columns(counts, channels), schema=PAIRS_SCHEMA)


def read_meta(folder: Path) -> dict[str, Any]:
    """``state.json`` of a model folder, its format version checked (one line if unusable)."""
    path = folder / STATE
    if not path.is_file():
        raise ShopscaleError(f"{folder}: not a shopscale model (no {STATE}); run recommend first")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        version = int(meta["format_version"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ShopscaleError(f"{path}: unreadable model state ({exc})") from None
    if version > FORMAT_VERSION:
        raise ShopscaleError(
            f"{path}: model format version {version} is newer than this shopscale reads "
            f"({FORMAT_VERSION}); upgrade shopscale"
        )
    if version < OLDEST_READABLE:
        raise ShopscaleError(
            f"{path}: model format version {version} is older than this shopscale reads "
            f"(oldest {OLDEST_READABLE}); rebuild the model with shopscale recommend"
        )
    return dict(meta)


def counts_events(meta: dict[str, Any]) -> bool:
    """Whether a model's ``state.json`` says its histories count events (format 4 on; a Spark
    run writes format 1's Parquet layout with the counts, and says so)."""
    return bool(meta.get("counted", int(meta["format_version"]) >= COUNTED_SINCE))


def read_state(folder: Path, *, arrays: bool = True) -> ModelState:
    """Load a model folder written by ``write_state`` (any engine); ``arrays=False`` reads only
    ``state.json`` (ids, history, exclusions and counts left empty: a server maps its own)."""
    meta = read_meta(folder)
    params = make_params(RecommendParams, meta["params"], source=STATE, section="params")
    events = read_events_params(meta)
    channels: list[str] = list(meta["channels"])
    n_items = int(meta["n_items"])
    version = int(meta["format_version"])
    counted = counts_events(meta)
    if version < COUNTED_SINCE and "repeats" not in meta["params"]:
        params = replace(params, repeats="once")  # what a model of before repeats ranked by
    if params.repeats != "once" and not counted:
        raise ShopscaleError(
            f"{folder}: repeats = {params.repeats!r} needs event counts, which this model "
            "(format 1-3, or built by the Spark engine) does not keep; rebuild it with "
            "shopscale recommend from the raw log"
        )
    if arrays:
        history = _history(read_columns(folder, HISTORY, version, counted=counted))
        if not history.is_sorted():
            raise ShopscaleError(f"{folder / HISTORY}: rows are not sorted by (u, a, i)")
        dropped = History.empty()
        if counted:
            dropped = _history(read_columns(folder, DROPPED, version, counted=counted))
            if not dropped.is_sorted():
                raise ShopscaleError(f"{folder / DROPPED}: rows are not sorted by (u, a, i)")
        ex = read_columns(folder, EXCLUDED, version)
        excluded = (ex["u"], ex["i"])
        users = read_parquet(folder / "users.parquet").column(0).combine_chunks()
        items = read_parquet(folder / "items.parquet").column(0).combine_chunks()
        counts = _read_counts(folder, channels, n_items, version)
    else:
        history = dropped = History.empty()
        excluded = (np.zeros(0, np.int32), np.zeros(0, np.int32))
        users = items = pa.array([], pa.string())
        counts = Counts.zeros(0, [])
    return ModelState(
        users=users,
        items=items,
        actions=list(meta["actions"]),
        channels=channels,
        history=history,
        excluded=excluded,
        dropped=dropped,
        counts=counts,
        t_ref=int(meta["t_ref"]),
        timed=bool(meta["timed"]),
        next_position=int(meta["next_position"]),
        params=params,
        events=events,
        files=list(meta["files"]),
        counted=counted,
    )


def _history(columns: dict[str, npt.NDArray]) -> History:
    """History rows from their column files (a model of before format 4 counts no events:
    every row counts one)."""
    n = columns.get("n")
    if n is None:
        n = np.ones(columns["u"].size, dtype=np.int32)
    return History(columns["u"], columns["a"], columns["i"], columns["t"], n)


def read_events_params(meta: dict[str, Any]) -> EventsParams:
    """How the model's events were read (``update`` reads new files the same way)."""
    return make_params(EventsParams, meta["events"], source=STATE, section="events")


def _np(table: pa.Table, name: str) -> npt.NDArray:
    """One column as a NumPy array of its own type."""
    return np.asarray(table.column(name).to_numpy())


def _read_counts(folder: Path, channels: list[str], n_items: int, version: int) -> Counts:
    """Pair counts (CSR per channel) and item marginals."""
    pairs = read_columns(folder, PAIRS, version)
    k11 = (_csr_pairs if version >= 3 else _row_pairs)(pairs, channels, n_items)
    if any(m.nnz and (m.indices.max() >= n_items or m.indices.min() < 0) for m in k11.values()):
        raise ShopscaleError(f"{folder / 'pairs'}: an item code out of range")
    t = read_parquet(folder / "item_counts.parquet")
    return Counts(
        k11,
        _np(t, "left_total").astype(np.int64),
        {ch: _np(t, f"right_total_{n}").astype(np.int64) for n, ch in enumerate(channels)},
        *(_np(t, name).astype(np.int64) for name in ITEM_COUNTS[1:]),
    )


def _csr_pairs(
    pairs: dict[str, npt.NDArray], channels: list[str], n_items: int
) -> dict[str, sp.csr_matrix]:
    """Format 3: each channel's rows of the one CSR, as views (no copy of the pairs)."""
    indptr, j, k = pairs["indptr"], pairs["j"], pairs["k11"]
    if indptr.size != len(channels) * n_items + 1 or indptr[-1] != j.size or j.size != k.size:
        raise ShopscaleError(f"pair counts: {indptr.size} row bounds for {n_items} items")
    k11 = {}
    for n, ch in enumerate(channels):
        bounds = indptr[n * n_items : (n + 1) * n_items + 1]
        lo, hi = int(bounds[0]), int(bounds[-1])
        m = sp.csr_matrix((k[lo:hi], j[lo:hi], bounds - lo), shape=(n_items, n_items))
        m.has_sorted_indices = True
        k11[ch] = m
    return k11


def _row_pairs(
    pairs: dict[str, npt.NDArray], channels: list[str], n_items: int
) -> dict[str, sp.csr_matrix]:
    """Formats 1 and 2: rows (c, i, j, k11) sorted by (c, i, j), a CSR built per channel."""
    c, i, j, k = (pairs[name] for name in ("c", "i", "j", "k11"))
    bounds = np.searchsorted(c, np.arange(len(channels) + 1))
    k11 = {}
    for n, ch in enumerate(channels):
        sl = slice(bounds[n], bounds[n + 1])
        indptr = np.zeros(n_items + 1, dtype=np.int64)
        np.cumsum(np.bincount(i[sl], minlength=n_items), out=indptr[1:])
        k11[ch] = sp.csr_matrix((k[sl], j[sl], indptr), shape=(n_items, n_items))
    return k11


def state_table(state: ModelState) -> dict[str, Any]:
    """The state keyed by ids, not codes (two states are the same model iff these are equal)."""
    s = state.in_string_order()
    h = s.history
    return {
        "users": s.users.to_pylist(),
        "items": s.items.to_pylist(),
        "history": _rows(h),
        "dropped": _rows(s.dropped),
        "excluded": list(zip(s.excluded[0].tolist(), s.excluded[1].tolist(), strict=True)),
        "pairs": _pairs_table(s.counts, s.channels).to_pylist(),
        "counts": {name: getattr(s.counts, name).tolist() for name in ITEM_COUNTS}
        | {f"right_{ch}": v.tolist() for ch, v in s.counts.right_total.items()},
        "meta": {k: v for k, v in _meta(s).items() if k not in ("files",)},
    }


def _rows(h: History) -> list[tuple[int, int, int, int, int]]:
    """History rows as tuples (u, a, i, t, n)."""
    return list(zip(*(c.tolist() for c in h.columns().values()), strict=True))
