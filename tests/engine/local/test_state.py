"""The batch model's history copy: taken from ``inter`` in its stored order, checked, and
sorted only when a scan comes otherwise."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.engine.local.state import _copy_history, _in_order, _OutOfOrderError
from shopscale.recommend.model import HISTORY
from shopscale.recommend.state_files import read_columns

ROWS = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.integers(0, 2),
        st.integers(0, 9),
        st.integers(0, 99),
        st.integers(1, 9),
    ),
    unique_by=lambda r: r[:3],
    max_size=40,
)


def _inter(rows: list[tuple[int, ...]], *, shuffle: bool) -> duckdb.DuckDBPyConnection:
    """A database whose ``inter`` table holds ``rows`` sorted, or in a shuffled order."""
    con = duckdb.connect()
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    types = (pa.int32(), pa.int8(), pa.int32(), pa.int64(), pa.int32())
    table = pa.table({n: pa.array(c, t) for n, c, t in zip("uaitn", cols, types, strict=True)})
    con.register("rows_in", table)
    order = "hash(u * 100 + a * 10 + i)" if shuffle else "u, a, i"
    con.execute(f"CREATE TABLE inter AS SELECT * FROM rows_in ORDER BY {order}")
    return con


def _copied(con: duckdb.DuckDBPyConnection, tmp: Path) -> list:
    """``inter`` copied to a model folder's history, read back as tuples."""
    _copy_history(cast("object", SimpleNamespace(con=con)), tmp)  # type: ignore[arg-type]
    got = read_columns(tmp, HISTORY, 4)
    return list(zip(*(got[c].tolist() for c in "uaitn"), strict=True))


@settings(max_examples=60, deadline=None)
@given(rows=ROWS, shuffle=st.booleans())
def test_the_history_copy_is_sorted_whatever_order_inter_is_scanned_in(
    rows: list[tuple[int, ...]], shuffle: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The stored history is every row of ``inter`` in (u, a, i) order with its time and
    events, whether
    the scan came sorted (copied as it is) or not (copied again, sorted)."""
    got = _copied(_inter(rows, shuffle=shuffle), tmp_path_factory.mktemp("model"))
    assert got == sorted(rows)


def _batches(keys: list[tuple[int, int, int]], cuts: list[int]) -> list[pa.RecordBatch]:
    """``keys`` as record batches cut at ``cuts``."""
    edges = [0, *sorted(cuts), len(keys)]
    out = []
    for lo, hi in itertools.pairwise(edges):
        part = keys[lo:hi]
        cols = list(zip(*part, strict=True)) if part else [(), (), ()]
        out.append(
            pa.record_batch(
                [
                    pa.array(cols[0], pa.int32()),
                    pa.array(cols[1], pa.int8()),
                    pa.array(cols[2], pa.int32()),
                ],
                names=["u", "a", "i"],
            )
        )
    return out


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 4)), max_size=20),
    data=st.data(),
)
def test_order_is_checked_across_batch_edges(
    keys: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    """Batches pass unchanged exactly when every row is above the one before it, the last row
    of the previous batch included."""
    cuts = data.draw(st.lists(st.integers(0, len(keys)), max_size=4))
    batches = _batches(keys, cuts)
    increasing = all(a < b for a, b in itertools.pairwise(keys))
    if increasing:
        assert list(_in_order(batches)) == batches
    else:
        with pytest.raises(_OutOfOrderError):
            list(_in_order(batches))


def test_an_out_of_order_scan_publishes_nothing_of_its_first_attempt(tmp_path: Path) -> None:
    """Rows scanned out of order: the copy's files hold exactly the sorted rows (the
    unsorted attempt left no file, hidden or not, behind)."""
    rows = [(u, 0, i, u * 10 + i, 1 + i) for u in range(3) for i in range(3)]
    con = _inter(rows, shuffle=True)
    scan = [tuple(r) for r in con.sql("SELECT u, a, i FROM inter").fetchall()]
    assert scan != sorted(scan)  # the copy below does meet a scan out of order
    got = _copied(con, tmp_path)
    assert got == sorted(rows)
    assert sorted(p.name for p in (tmp_path / HISTORY).iterdir()) == [
        "a.npy",
        "i.npy",
        "n.npy",
        "t.npy",
        "u.npy",
    ]
    assert np.load(tmp_path / HISTORY / "u.npy").size == len(rows)
