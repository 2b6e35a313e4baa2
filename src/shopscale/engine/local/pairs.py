"""Pair counts sharded by item range, each shard summed once, spilled to disk over a budget.

The map stage counts, per shard of users, a partial k11 matrix per channel. Adding each one into
a single accumulated SciPy matrix copies the whole matrix per add (cost shards x pairs, all in
RAM). Here each partial is cut by item range (rows i) into buckets and kept as (i, j, k11)
triples; when the triples held in memory pass the budget they are appended to one file per
bucket and channel. ``finish`` then sums every bucket once (one sort by (i, j), on every core),
and keeps the summed blocks in memory while they fit the budget, else on disk (memory-mapped
when read). Reduce reads one item shard at a time; sums of integers do not depend on the
order they are added in, so the result is exactly that of the in-memory sum.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

TRIPLE = np.dtype([("i", np.int32), ("j", np.int32), ("k", np.int32)])
"""One partial pair count as stored in a bucket (12 bytes)."""
MERGE_FACTOR = 4
"""Bytes one bucket's merge needs per byte of its triples (concatenation, COO -> CSR)."""
MAX_BUCKETS = 256
LOADED_SHARD_PAIRS = 8_000_000
"""Pairs (all channels) per item shard of a loaded model's counts: a few shards, so that
scoring one overlaps writing the one before, each large enough to keep both cores busy."""
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})


def parse_bytes(text: str) -> int:
    """Bytes of a size such as ``4GB``, ``500MiB`` or ``1e9`` (DuckDB's memory_limit units)."""
    match = re.fullmatch(r"\s*([0-9.eE+]+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 4GB, 500MiB)")
    return int(float(match.group(1)) * _UNITS[unit])


def physical_memory() -> int:
    """Bytes of RAM of this machine."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


@dataclass(frozen=True)
class Block:
    """Summed pair counts of items lo..hi-1 (rows, local from lo) x every item (columns)."""

    lo: int
    hi: int
    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int32]
    data: npt.NDArray[np.int32]

    def csr(self, n_items: int) -> sp.csr_matrix:
        """The block as a (hi - lo) x n_items CSR matrix with sorted indices."""
        m = sp.csr_matrix(
            (self.data, self.indices, self.indptr), shape=(self.hi - self.lo, n_items)
        )
        m.has_sorted_indices = True
        return m

    @property
    def nbytes(self) -> int:
        """Bytes of the block's arrays."""
        return int(self.indptr.nbytes + self.indices.nbytes + self.data.nbytes)


class PairStore:
    """Every channel's pair counts, cut into item shards (``bounds``); see the module doc."""

    def __init__(
        self,
        n_channels: int,
        n_items: int,
        *,
        folder: Path,
        budget: int,
        n_shards: int | None = None,
        threads: int = 2,
    ) -> None:
        self.n_channels, self.n_items = n_channels, n_items
        self.folder, self.budget, self.threads = folder, max(1, budget), max(1, threads)
        self.bounds: npt.NDArray[np.int64] | None = None
        if n_shards is not None:
            self._set_bounds(n_shards)
        self._parts: dict[tuple[int, int], list[npt.NDArray]] = {}
        self._held = 0
        self._spilled: set[tuple[int, int]] = set()
        self._blocks: dict[tuple[int, int], Block | Path] = {}
        self._nnz: dict[tuple[int, int], int] = {}
        self.spills = 0
        """How many times held triples went to disk (0: everything fit the budget)."""

    @property
    def n_shards(self) -> int:
        """Item shards (1 until the first partial arrives, when it is chosen)."""
        return 1 if self.bounds is None else self.bounds.size - 1

    def _set_bounds(self, n_shards: int) -> None:
        n = max(1, min(n_shards, self.n_items, MAX_BUCKETS))
        self.bounds = np.unique(np.linspace(0, self.n_items, n + 1).astype(np.int64))

    def add(self, parts: list[sp.csr_matrix], expected_parts: int) -> None:
        """Hold one shard of users' partial counts (one n_items x n_items CSR per channel).

        The first call chooses the item shards: enough that one shard's triples, estimated
        from this partial times ``expected_parts``, merge within a quarter of the budget.
        """
        if self.bounds is None:
            nnz = sum(int(m.nnz) for m in parts) * max(1, expected_parts)
            wanted = math.ceil(nnz * TRIPLE.itemsize * MERGE_FACTOR * 4 / self.budget)
            self._set_bounds(max(2, wanted))
        assert self.bounds is not None
        for c, m in enumerate(parts):
            rows = np.repeat(np.arange(self.n_items, dtype=np.int32), np.diff(m.indptr))
            cuts = m.indptr[self.bounds]
            for s in range(self.n_shards):
                a, b = int(cuts[s]), int(cuts[s + 1])
                if a == b:
                    continue
                t = np.empty(b - a, dtype=TRIPLE)
                t["i"], t["j"], t["k"] = rows[a:b], m.indices[a:b], m.data[a:b]
                self._parts.setdefault((c, s), []).append(t)
                self._held += t.nbytes
        if self._held > self.budget:
            self._spill()

    def _spill(self) -> None:
        """Append every held triple to its bucket's file; hold nothing."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for key, parts in self._parts.items():
            with self._raw(key).open("ab") as fh:
                for t in parts:
                    t.tofile(fh)
            self._spilled.add(key)
        self._parts.clear()
        self._held = 0
        self.spills += 1

    def _raw(self, key: tuple[int, int]) -> Path:
        return self.folder / f"raw-{key[0]}-{key[1]}.bin"

    def finish(self) -> None:
        """Sum every bucket once, on ``threads`` threads (SciPy's kernels release the GIL);
        keep the sums in memory while they fit the budget, else write them to disk."""
        keys = [(c, s) for c in range(self.n_channels) for s in range(self.n_shards)]
        kept = 0
        with ThreadPoolExecutor(self.threads) as pool:
            for key, block in zip(keys, pool.map(self._merge, keys), strict=True):
                self._nnz[key] = int(block.indices.size)
                if kept + block.nbytes <= self.budget:
                    self._blocks[key] = block
                    kept += block.nbytes
                else:
                    self._blocks[key] = self._save(key, block)

    def _merge(self, key: tuple[int, int]) -> Block:
        """The summed counts of one bucket (its triples from memory and disk)."""
        s = key[1]
        lo, hi = self.shard_range(s)
        pieces = self._parts.pop(key, [])
        if key in self._spilled:
            pieces.insert(0, np.fromfile(self._raw(key), dtype=TRIPLE))
            self._raw(key).unlink()
        t = np.concatenate(pieces) if pieces else np.zeros(0, dtype=TRIPLE)
        del pieces
        m = sp.coo_matrix((t["k"], (t["i"] - lo, t["j"])), shape=(hi - lo, self.n_items))
        del t
        m = m.tocsr()
        m.sum_duplicates()
        m.sort_indices()
        return Block(lo, hi, m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data)

    def _save(self, key: tuple[int, int], block: Block) -> Path:
        path = self.folder / f"block-{key[0]}-{key[1]}.npz"
        self.folder.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez(fh, indptr=block.indptr, indices=block.indices, data=block.data)
        return path

    def shard_range(self, s: int) -> tuple[int, int]:
        """(lo, hi): the items of shard s."""
        if self.bounds is None:
            return 0, self.n_items
        return int(self.bounds[s]), int(self.bounds[s + 1])

    def block(self, c: int, s: int) -> Block:
        """Channel c's summed counts of item shard s (read back if it went to disk)."""
        found = self._blocks.get((c, s))
        lo, hi = self.shard_range(s)
        if found is None:
            empty = np.zeros(hi - lo + 1, dtype=np.int64)
            return Block(lo, hi, empty, np.zeros(0, np.int32), np.zeros(0, np.int32))
        if isinstance(found, Block):
            return found
        with np.load(found) as z:
            return Block(lo, hi, z["indptr"], z["indices"], z["data"])

    def nnz(self, c: int, s: int) -> int:
        """Pairs in channel c's block of item shard s (without reading it back from disk)."""
        return self._nnz.get((c, s), 0)

    @classmethod
    def of_matrices(
        cls, matrices: list[sp.csr_matrix], folder: Path, *, pairs_per_shard: int | None = None
    ) -> PairStore:
        """A store over whole matrices (a loaded model's counts), cut into item shards of
        about ``pairs_per_shard`` pairs (all channels; default ``LOADED_SHARD_PAIRS``) whose
        blocks are views of the matrices: the reduce writes one shard's output while it
        scores the next."""
        n_items = matrices[0].shape[0] if matrices else 0
        wanted = pairs_per_shard or LOADED_SHARD_PAIRS
        n_shards = max(1, math.ceil(sum(int(m.nnz) for m in matrices) / max(1, wanted)))
        store = cls(len(matrices), n_items, folder=folder, budget=1, n_shards=n_shards)
        for c, m in enumerate(matrices):
            m = m.tocsr()
            m.sort_indices()
            indptr = m.indptr.astype(np.int64)
            for s in range(store.n_shards):
                lo, hi = store.shard_range(s)
                a, b = int(indptr[lo]), int(indptr[hi])
                rows = indptr[lo : hi + 1] - a
                store._blocks[(c, s)] = Block(lo, hi, rows, m.indices[a:b], m.data[a:b])
                store._nnz[(c, s)] = b - a
        return store


def stack(blocks: Iterable[Block], n_items: int) -> sp.csr_matrix:
    """Blocks of consecutive item ranges (covering every item) as one CSR matrix."""
    blocks = list(blocks)
    offsets = np.cumsum([0] + [b.indices.size for b in blocks])
    indptr = np.concatenate(
        [np.zeros(1, np.int64)]
        + [b.indptr[1:] + off for b, off in zip(blocks, offsets, strict=False)]
    )
    indices = np.concatenate([b.indices for b in blocks] + [np.zeros(0, np.int32)])
    data = np.concatenate([b.data for b in blocks] + [np.zeros(0, np.int32)])
    m = sp.csr_matrix((data, indices, indptr), shape=(n_items, n_items))
    m.has_sorted_indices = True
    return m
