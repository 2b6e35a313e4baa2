"""Append-only codes keep old ids' codes; string order is Python's order of the ids."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.ids import IdMap, append_ids, id_array, string_order

IDS = st.lists(st.text(min_size=1, max_size=4), unique=True, max_size=12)


@settings(deadline=None)  # first calls load Arrow kernels; a loaded machine is slow
@given(old=IDS, new=st.lists(st.text(min_size=1, max_size=4), max_size=12))
def test_append_ids_never_renumbers(old: list[str], new: list[str]) -> None:
    """Old ids keep their codes; each unseen id is appended once, newcomers in string order."""
    got = append_ids(pa.array(old, pa.string()), pa.array(new, pa.string())).to_pylist()
    assert got[: len(old)] == old
    assert got[len(old) :] == sorted(set(new) - set(old))


@settings(deadline=None)  # first calls load Arrow kernels; a loaded machine is slow
@given(ids=IDS)
def test_string_order_is_python_order(ids: list[str]) -> None:
    """``order`` lists codes by id string order (Python's, on any Unicode) and ``rank``
    inverts it."""
    order, rank = string_order(pa.array(ids, pa.string()))
    assert [ids[c] for c in order] == sorted(ids)
    assert [int(rank[c]) for c in order] == list(range(len(ids)))


@settings(deadline=None)  # first calls load Arrow kernels; a loaded machine is slow
@given(ids=st.lists(st.text(min_size=1, max_size=4), unique=True, min_size=1, max_size=12))
def test_ids_over_the_string_limit_are_large_strings(ids: list[str]) -> None:
    """Ids with more text than a ``string`` array holds (a tiny limit here) become one
    ``large_string`` array; decoding still gives ``string`` arrays of the same ids, and new ids
    append to it."""
    s = pa.string()
    chunked = pa.chunked_array([pa.array(sorted(ids)[:1], s), pa.array(sorted(ids)[1:], s)])
    big = id_array(chunked, limit=0)
    assert big.type == pa.large_string() and big.to_pylist() == sorted(ids)
    assert id_array(chunked).type == pa.string()
    ids_map = IdMap(big)
    codes = np.arange(len(ids))[::-1]
    decoded = ids_map.decode(codes)
    assert decoded.type == pa.string()
    assert decoded.to_pylist() == [sorted(ids)[c] for c in codes]
    assert ids_map.encode(sorted(ids)).tolist() == list(range(len(ids)))
    grown = append_ids(big, pa.array(["\uffff"], pa.string()))
    assert grown.to_pylist()[: len(ids)] == sorted(ids)


@settings(max_examples=200, deadline=None)
@given(
    ids=st.lists(st.text(min_size=1, max_size=4), unique=True, min_size=1, max_size=30).map(sorted),
    data=st.data(),
)
def test_dictionary_holds_the_ids_used_in_code_order(ids: list[str], data: st.DataObject) -> None:
    """A dictionary array of some codes decodes to their ids; its dictionary is exactly the
    distinct ids used, in code order, whatever span of codes is used."""
    codes = data.draw(st.lists(st.integers(0, len(ids) - 1), max_size=40))
    got = IdMap(pa.array(ids)).dictionary(np.array(codes, dtype=np.int32))
    assert got.indices.type == pa.int32()
    assert got.dictionary.to_pylist() == [ids[c] for c in sorted(set(codes))]
    assert got.to_pylist() == [ids[c] for c in codes]
