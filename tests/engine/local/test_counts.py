"""A shard's rows as the map and rank stages read them."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.engine.local.counts import sorted_shard


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 2**31 - 1)),
        unique=True,
        max_size=30,
    ),
    data=st.data(),
)
def test_a_shard_comes_sorted_by_user_action_item_in_whatever_order_it_was_read(
    rows: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    """Rows read in any order come out sorted by (user, action, item), each with its time:
    rows already in order are taken as they are."""
    shuffled = data.draw(st.permutations(rows))
    times = {row: n for n, row in enumerate(rows)}
    cols = list(zip(*shuffled, strict=True)) if shuffled else [(), (), ()]
    u, a, i = (
        np.array(c, dtype=d) for c, d in zip(cols, (np.int32, np.int8, np.int32), strict=True)
    )
    t = np.array([times[r] for r in shuffled], dtype=np.int64)
    shard = sorted_shard(7, 4, u, a, i, t)
    got = list(zip(shard.u.tolist(), shard.a.tolist(), shard.i.tolist(), strict=True))
    assert got == sorted(rows)
    assert shard.t.tolist() == [times[r] for r in sorted(rows)]
    assert (shard.lo, shard.n_users) == (7, 4)
    assert shard.u.dtype == np.int32 and shard.a.dtype == np.int8 and shard.t.dtype == np.int64
