"""Append-only codes keep old ids' codes; string order is Python's order of the ids."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from shopscale.ids import append_ids, string_order

IDS = st.lists(st.text(min_size=1, max_size=4), unique=True, max_size=12)


@given(old=IDS, new=st.lists(st.text(min_size=1, max_size=4), max_size=12))
def test_append_ids_never_renumbers(old: list[str], new: list[str]) -> None:
    """Old ids keep their codes; each unseen id is appended once, newcomers in string order."""
    got = append_ids(pa.array(old, pa.string()), pa.array(new, pa.string())).to_pylist()
    assert got[: len(old)] == old
    assert got[len(old) :] == sorted(set(new) - set(old))


@given(ids=IDS)
def test_string_order_is_python_order(ids: list[str]) -> None:
    """``order`` lists codes by id string order (Python's, on any Unicode) and ``rank``
    inverts it."""
    order, rank = string_order(pa.array(ids, pa.string()))
    assert [ids[c] for c in order] == sorted(ids)
    assert [int(rank[c]) for c in order] == list(range(len(ids)))
