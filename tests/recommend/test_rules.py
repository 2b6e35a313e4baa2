"""The shared rules on their own: what every engine and the service compute the same way."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.recommend.rules import ANY, channel_rows

ACTIONS = ["carted", "purchased", "viewed"]


@st.composite
def history_rows(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Distinct (user, action, item) rows sorted by them, with times that often tie."""
    n_items = draw(st.integers(1, 6))
    keys = draw(
        st.sets(
            st.tuples(st.integers(0, 4), st.integers(0, 2), st.integers(0, n_items - 1)),
            max_size=40,
        )
    )
    rows = sorted(keys)
    times = draw(st.lists(st.integers(0, 5), min_size=len(rows), max_size=len(rows)))
    cols = list(zip(*rows, strict=True)) if rows else [(), (), ()]
    u, a, i = (
        np.array(c, dtype=dt) for c, dt in zip(cols, (np.int32, np.int8, np.int32), strict=True)
    )
    return u, a, i, np.array(times, dtype=np.int64), n_items


@settings(max_examples=200, deadline=None)
@given(rows=history_rows())
def test_any_channel_keeps_each_user_item_once_with_its_latest_time(rows: tuple) -> None:
    """Under ``any``, each (user, item) touched by any action is one row, sorted by (user,
    item), with the latest time any action gave it; an action's channel is its own rows."""
    u, a, i, t, n_items = rows
    got_u, got_i, got_t = channel_rows(u, a, i, t, ANY, ACTIONS, n_items)
    latest: dict[tuple[int, int], int] = {}
    for uu, ii, tt in zip(u.tolist(), i.tolist(), t.tolist(), strict=True):
        latest[(uu, ii)] = max(tt, latest.get((uu, ii), tt))
    want = sorted(latest.items())
    assert list(zip(got_u.tolist(), got_i.tolist(), got_t.tolist(), strict=True)) == [
        (uu, ii, tt) for (uu, ii), tt in want
    ]
    assert got_u.dtype == u.dtype and got_i.dtype == i.dtype and got_t.dtype == t.dtype
    for code, action in enumerate(ACTIONS):
        only = a == code
        cu, ci, ct = channel_rows(u, a, i, t, action, ACTIONS, n_items)
        assert np.array_equal(cu, u[only]) and np.array_equal(ci, i[only])
        assert np.array_equal(ct, t[only])
