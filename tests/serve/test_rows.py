"""The per-user arrays precomputed for a served model give every user exactly what the
general request path (the one for users with posted events) computes with no posted events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings

from shopscale.recommend.model import read_state
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.update import update
from shopscale.serve.score import exclusions, history_csr, user_view
from shopscale.serve.served import load_served
from tests.serve.conftest import T0, Event, build_model, write_log
from tests.serve.test_exact import params_strategy
from tests.strategies import split_logs


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=split_logs(), params=params_strategy)
def test_rows_equal_the_general_path(
    tmp_path_factory: pytest.TempPathFactory, parts: list[list[Event]], params: RecommendParams
) -> None:
    """For every user: the same history entries, bit-identical weights (every decay on or
    off, every channel weighting), and the same excluded items."""
    tmp: Path = tmp_path_factory.mktemp("rows")
    results = build_model(tmp, [e for part in parts for e in part], params)
    served = load_served(results / "current", "no-log")
    t_ref = served.state.t_ref + 12_345  # a posted event may move the reference time
    for u, user in enumerate(served.users):
        view = user_view(served, user, [])
        want_j, want_w = history_csr(served, view, t_ref)
        got_j, got_w = served.rows.history(u, t_ref, params.half_life_days)
        assert np.array_equal(got_j, want_j) and np.array_equal(got_w, want_w), user
        want_x = exclusions(served, user, view)
        assert np.array_equal(served.rows.excluded_of(u), want_x), user


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=split_logs(), params=params_strategy)
@example(  # u0's i1 (two views) leaves the one-item window, a posted view brings it back
    parts=[
        [("u0", "viewed", "i1", 1), ("u0", "viewed", "i1", 2), ("u0", "viewed", "i2", 5),
         ("u1", "viewed", "i1", 3), ("u1", "purchased", "i1", 4)],
        [("u0", "viewed", "i1", 9), ("u0", "viewed", "i3", 7)],
    ],
    params=RecommendParams(max_items_per_user=1, repeats="count"),
)  # fmt: skip
def test_posted_history_is_the_folded_history(
    tmp_path_factory: pytest.TempPathFactory, parts: list[list[Event]], params: RecommendParams
) -> None:
    """A user's history at request time (the model's rows, the rows its window dropped and
    the posted events, by the fold's rules) is what the fold of those events holds for the
    user: the same (action, item) rows, latest times and event counts (``repeats`` ranks by
    them), also where a posted event brings a dropped row back into the window."""
    tmp: Path = tmp_path_factory.mktemp("posted")
    results = build_model(tmp, parts[0], params)
    later = [e for part in parts[1:] for e in part]
    write_log(tmp / "later.csv", later)
    update(results / "current", [tmp / "later.csv"], out=tmp / "folded")
    served = load_served(results / "current", "no-log")
    folded = read_state(tmp / "folded" / "model").in_string_order()
    users, items = folded.users.to_pylist(), folded.items.to_pylist()
    h = folded.history
    for user in sorted({e[0] for part in parts for e in part}):
        posted = [(a, i, T0 + t) for u, a, i, t in later if u == user]
        view = user_view(served, user, posted)
        got = {
            (view.actions[a], view.items[i], t, n)
            for a, i, t, n in zip(
                *(view.history.columns()[k].tolist() for k in "aitn"), strict=True
            )
        }
        mine = h.u == users.index(user)
        want = {
            (folded.actions[a], items[i], t, n)
            for a, i, t, n in zip(h.a[mine], h.i[mine], h.t[mine], h.n[mine], strict=True)
        }
        assert got == want, user
