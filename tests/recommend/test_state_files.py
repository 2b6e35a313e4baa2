"""The model's column files written as a stream are those of the whole arrays."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.errors import ShopscaleError
from shopscale.recommend.state_files import (
    read_columns,
    stream_columns,
    stream_csr,
    write_columns,
)


def _files(folder: Path, table: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / table).iterdir())}


@settings(max_examples=40, deadline=None)
@given(
    dense=st.lists(st.lists(st.integers(0, 3), min_size=5, max_size=5), min_size=1, max_size=9),
    cuts=st.lists(st.integers(0, 9), max_size=4),
)
def test_a_csr_streamed_in_blocks_is_the_file_of_the_whole_matrix(
    dense: list[list[int]], cuts: list[int], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Rows cut into any consecutive blocks give the same bytes as ``numpy.save`` of the whole
    CSR's arrays, and read back as them."""
    m = sp.csr_matrix(np.array(dense, dtype=np.int32))
    bounds = sorted({0, m.shape[0], *(c for c in cuts if c < m.shape[0])})
    blocks = []
    for lo, hi in itertools.pairwise(bounds):
        part = m[lo:hi]
        blocks.append((part.indptr.astype(np.int64), part.indices, part.data))
    streamed, whole = tmp_path_factory.mktemp("streamed"), tmp_path_factory.mktemp("whole")
    stream_csr(streamed, "pairs", (m.shape[0], m.nnz), blocks)
    arrays = {"indptr": m.indptr.astype(np.int64), "j": m.indices, "k11": m.data}
    write_columns(whole, "pairs", arrays)
    assert _files(streamed, "pairs") == _files(whole, "pairs")
    got = read_columns(streamed, "pairs", 3)
    assert all(np.array_equal(got[k], v) for k, v in arrays.items())


def test_a_csr_of_other_sizes_than_announced_is_refused_and_not_published(tmp_path: Path) -> None:
    m = sp.csr_matrix(np.eye(3, dtype=np.int32))
    block = (m.indptr.astype(np.int64), m.indices, m.data)
    for shape in ((4, 3), (3, 4), (2, 3), (3, 2)):
        with pytest.raises(ShopscaleError, match="do not make"):
            stream_csr(tmp_path, "pairs", shape, [block])
        assert not (tmp_path / "pairs").exists() or not list((tmp_path / "pairs").iterdir())


def test_history_rows_streamed_in_batches_are_the_file_of_the_whole_columns(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(7)
    cols = {
        "u": rng.integers(0, 50, 1000).astype(np.int32),
        "a": rng.integers(0, 3, 1000).astype(np.int8),
        "i": rng.integers(0, 90, 1000).astype(np.int32),
        "t": rng.integers(0, 10**12, 1000).astype(np.int64),
        "n": rng.integers(1, 40, 1000).astype(np.int32),
    }
    batches = pa.table(cols).to_batches(max_chunksize=333)
    stream_columns(tmp_path / "s", "history", 1000, batches)
    write_columns(tmp_path / "w", "history", cols)
    assert _files(tmp_path / "s", "history") == _files(tmp_path / "w", "history")
    for n_rows in (999, 1001):
        with pytest.raises(ShopscaleError, match="rows streamed"):
            stream_columns(tmp_path / "bad", "history", n_rows, batches)
        assert not (tmp_path / "bad" / "history").exists() or not list(
            (tmp_path / "bad" / "history").iterdir()
        )
