"""Pair counts sharded by item range and spilled to disk give exactly the in-memory result."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.engine.base import SIMILAR_ITEMS_SCHEMA
from shopscale.engine.local.engine import LocalEngine
from shopscale.engine.local.pairs import PairStore, parse_bytes, stack
from shopscale.engine.local.similar import rebatch
from shopscale.errors import ConfigError
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run
from tests.strategies import event_logs, logs_with_addon, write_events_csv

OUTPUTS = ("recommendations.parquet", "similar_items.parquet")


def model_files(out: Path) -> dict[str, bytes]:
    """Every file of the published model state but state.json (it records the run's time)."""
    model = (out / "model").resolve()
    return {
        str(f.relative_to(model)): f.read_bytes()
        for f in sorted(model.rglob("*"))
        if f.is_file() and f.name != "state.json"
    }


@st.composite
def partial_counts(draw: st.DrawFn, n_items: int) -> list[list[sp.csr_matrix]]:
    """One to four shards of users, each with two channels' partial count matrices."""
    cell = st.tuples(st.integers(0, n_items - 1), st.integers(0, n_items - 1))
    shards = []
    for _ in range(draw(st.integers(1, 4))):
        channels = []
        for _ in range(2):
            cells = draw(st.lists(cell, max_size=30))
            rows = np.array([c[0] for c in cells], dtype=np.int32)
            cols = np.array([c[1] for c in cells], dtype=np.int32)
            ones = np.ones(rows.size, np.int32)
            m = sp.csr_matrix((ones, (rows, cols)), shape=(n_items, n_items))
            m.sum_duplicates()
            channels.append(m)
        shards.append(channels)
    return shards


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    n_items=st.integers(1, 12),
    n_shards=st.integers(1, 6),
    budget=st.sampled_from([1, 40, 10**9]),
)
def test_store_sums_equal_in_memory_sum(
    data: st.DataObject,
    n_items: int,
    n_shards: int,
    budget: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Whatever the item shards and budget (so whether triples and sums go to disk or not),
    each channel's stored matrix is the plain sum of the partials added."""
    parts = data.draw(partial_counts(n_items))
    folder = tmp_path_factory.mktemp("pairs")
    store = PairStore(2, n_items, folder=folder, budget=budget, n_shards=n_shards)
    for part in parts:
        store.add(part, len(parts))
    store.finish()
    for c in range(2):
        want = sp.csr_matrix((n_items, n_items), dtype=np.int32)
        for part in parts:
            want = want + part[c]
        got = stored(store, c)
        assert got.dtype == np.int32
        assert (got != want).nnz == 0
        assert np.all(got.data > 0)
        rows = np.repeat(np.arange(n_items), np.diff(got.indptr))
        assert np.all(np.diff(rows * n_items + got.indices) > 0)  # sorted, no duplicates


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n_items=st.integers(1, 12), per_shard=st.integers(1, 40))
def test_a_loaded_models_shards_are_its_matrices_cut_by_item(
    data: st.DataObject, n_items: int, per_shard: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A store over whole matrices (a loaded model) cut into shards of ``per_shard`` pairs:
    the shards cover every item once, in order, and each channel's blocks stacked are its
    matrix."""
    channels = [sum(part[c] for part in data.draw(partial_counts(n_items))) for c in range(2)]
    mats = [sp.csr_matrix(m, shape=(n_items, n_items), dtype=np.int32) for m in channels]
    folder = tmp_path_factory.mktemp("loaded")
    store = PairStore.of_matrices(mats, folder, pairs_per_shard=per_shard)
    nnz = sum(m.nnz for m in mats)
    assert store.n_shards == min(n_items, max(1, -(-nnz // per_shard)))
    ranges = [store.shard_range(s) for s in range(store.n_shards)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n_items
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    for c, want in enumerate(mats):
        blocks = [store.block(c, s) for s in range(store.n_shards)]
        assert all(b.indptr[0] == 0 for b in blocks)
        assert (stored(store, c) != want).nnz == 0


def stored(store: PairStore, c: int) -> sp.csr_matrix:
    """Channel c's blocks stacked into one matrix, each block's pair count checked."""
    blocks = [store.block(c, s) for s in range(store.n_shards)]
    assert [b.indices.size for b in blocks] == [store.nnz(c, s) for s in range(store.n_shards)]
    return stack(blocks, store.n_items)


def _run(path: Path, out: Path, params: RecommendParams, **options: object) -> Path:
    """Run the whole job; return the published version's folder."""
    run(path, out=out, params=params, output=OutputParams(db="none"), engine_options=options)
    return next((out / ".versions").iterdir())


@settings(max_examples=12, deadline=None)
@given(
    events=st.one_of(event_logs(), logs_with_addon()),
    similarity=st.sampled_from(["llr", "cosine"]),
    self_weight=st.sampled_from([0.0, 1e6]),
    users_per_shard=st.integers(1, 4),
    item_shards=st.integers(2, 6),
)
def test_sharded_spilled_run_is_byte_identical(
    events: list[tuple[str, str, str, int]],
    similarity: str,
    self_weight: float,
    users_per_shard: int,
    item_shards: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A run with tiny item shards and a one-byte pair budget (every triple and every summed
    shard spilled) writes the same bytes as a run holding all pair counts in memory."""
    tmp = tmp_path_factory.mktemp("run")
    log = tmp / "events.csv"
    write_events_csv(log, events)
    params = RecommendParams(
        similarity=similarity,  # type: ignore[arg-type]
        self_weight=self_weight,
        users_per_shard=users_per_shard,
    )
    whole = _run(log, tmp / "whole", params, pair_budget=10**12, item_shards=1)
    spilled = _run(log, tmp / "spilled", params, pair_budget=1, item_shards=item_shards)
    for name in OUTPUTS:
        assert (whole / name).read_bytes() == (spilled / name).read_bytes(), name
    assert model_files(whole) == model_files(spilled)


def test_rebatch_cuts_fixed_sizes_whatever_the_input() -> None:
    """Rows come out unchanged, in batches of exactly the size asked (the last shorter)."""
    rows = [
        pa.RecordBatch.from_pylist([_row(k) for k in range(a, b)], SIMILAR_ITEMS_SCHEMA)
        for a, b in ((0, 3), (3, 3), (3, 10), (10, 11))
    ]
    out = list(rebatch(rows, size=4, schema=SIMILAR_ITEMS_SCHEMA))
    assert [b.num_rows for b in out] == [4, 4, 3]
    assert pa.Table.from_batches(out).to_pylist() == [_row(k) for k in range(11)]
    empty = list(rebatch([], size=4, schema=SIMILAR_ITEMS_SCHEMA))
    assert [b.num_rows for b in empty] == [0]


def _row(k: int) -> dict[str, object]:
    return {"item_id": f"i{k}", "action": "viewed", "rank": 1, "similar_item_id": "j", "score": 1.0}


def test_memory_limit_sets_the_pair_budget() -> None:
    """--memory-limit sizes in DuckDB's units set a quarter of it as the pair budget; a size
    that is not one is a ConfigError naming the flag."""
    assert parse_bytes("4GB") == 4 * 10**9
    assert parse_bytes("512MiB") == 512 * 2**20
    engine = LocalEngine(memory_limit="4GB")
    try:
        assert engine.pair_budget == 10**9
    finally:
        engine.close()
    with pytest.raises(ConfigError, match="--memory-limit"):
        LocalEngine(memory_limit="lots")
