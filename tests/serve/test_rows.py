"""The per-user arrays precomputed for a served model give every user exactly what the
general request path (the one for users with posted events) computes with no posted events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from shopscale.recommend.params import RecommendParams
from shopscale.serve.score import exclusions, history_csr, user_view
from shopscale.serve.served import load_served
from tests.serve.conftest import Event, build_model
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
