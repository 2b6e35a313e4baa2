"""The stored model state is what docs/model.md says it is, counted naively from the events."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopscale.recommend.model import (
    History,
    _permute,
    add_sorted,
    read_state,
    state_table,
    write_state,
)
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run
from tests.helpers import Event, downsample
from tests.strategies import T0, event_logs, write_events_csv

params_strategy = st.builds(
    RecommendParams,
    similarity=st.sampled_from(["llr", "llr", "cosine"]),
    max_items_per_user=st.integers(1, 3),
    exclude=st.sampled_from(["primary", "any", "none"]),
    users_per_shard=st.integers(1, 3),
)


def naive_counts(events: list[Event], params: RecommendParams) -> dict[str, Counter]:
    """Every count of the state, one user at a time, by item id."""
    hist = downsample(events, params.max_items_per_user)
    users = {u for u, _ in hist}
    actions = sorted({a for _, a in hist})
    channels = ["any"] if params.similarity != "llr" else actions
    left = "any" if params.similarity != "llr" else params.primary
    out: dict[str, Counter] = {"pop_any": Counter(), "pop_primary": Counter()}
    out |= {"left_total": Counter(), "unprompted": Counter()}
    for u in users:
        has = {a: set(hist.get((u, a), {})) for a in actions}
        has["any"] = set().union(*has.values())
        out["pop_any"].update(has["any"])
        out["pop_primary"].update(has.get(params.primary, set()))
        out["left_total"].update(has.get(left, set()))
        other = set().union(*(has[c] for c in channels if c not in (left, "any")))
        out["unprompted"].update(has.get(left, set()) - other)
        for ch in channels:
            out.setdefault(f"right_{ch}", Counter()).update(has[ch])
            pairs = ((i, j) for i in has.get(left, set()) for j in has[ch])
            out.setdefault(f"k11_{ch}", Counter()).update(pairs)
    return out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=event_logs(), params=params_strategy)
def test_state_counts_equal_naive_counts(
    tmp_path_factory: pytest.TempPathFactory, events: list[Event], params: RecommendParams
) -> None:
    """Ids, histories (with their events), dropped rows, extra exclusions, N, t_ref and every
    count of the stored state equal the same things counted user by user from the events;
    reading and writing it back changes nothing."""
    tmp = tmp_path_factory.mktemp("model")
    write_events_csv(tmp / "events.csv", events)
    run(tmp / "events.csv", out=tmp / "out", params=params, output=OutputParams(db="none"))
    state = read_state(tmp / "out" / "model")
    users, items = state.users.to_pylist(), state.items.to_pylist()
    assert users == sorted({u for u, _, _, _ in events})
    assert items == sorted({i for _, _, i, _ in events})
    assert state.t_ref == T0 + max(t for *_, t in events)
    h = state.history
    got_hist = {
        (users[u], state.actions[a], items[i], t - T0)
        for u, a, i, t in zip(h.u.tolist(), h.a.tolist(), h.i.tolist(), h.t.tolist(), strict=True)
    }
    hist = downsample(events, params.max_items_per_user)
    assert got_hist == {(u, a, i, t) for (u, a), kept in hist.items() for i, t in kept.items()}
    # every (user, action, item) with its events: the kept ones in history/n, the others,
    # with their latest time, in dropped/
    events_of = Counter((u, a, i) for u, a, i, _ in events)
    latest: dict[tuple[str, str, str], int] = {}
    for u, a, i, t in events:
        latest[(u, a, i)] = max(t, latest.get((u, a, i), t))
    named = lambda rows: {  # noqa: E731
        (users[u], state.actions[a], items[i], t - T0, n)
        for u, a, i, t, n in zip(*(rows.columns()[k].tolist() for k in "uaitn"), strict=True)
    }
    held = {(u, a, i) for u, a, i, _ in got_hist}
    assert named(h) == {(*k, latest[k], events_of[k]) for k in held}
    assert named(state.dropped) == {
        (*k, latest[k], n) for k, n in events_of.items() if k not in held
    }
    ever = {
        (u, i)
        for u, a, i, _ in events
        if params.exclude == "any" or (params.exclude == "primary" and a == params.primary)
    }
    kept = {(u, i) for u, a, i, _ in got_hist if params.exclude == "any" or a == params.primary}
    extra = set(zip(state.excluded[0].tolist(), state.excluded[1].tolist(), strict=True))
    assert {(users[u], items[i]) for u, i in extra} == ever - kept
    c = state.counts
    got: dict[str, Counter] = {
        name: Counter({items[k]: int(v) for k, v in enumerate(getattr(c, name)) if v})
        for name in ("pop_any", "pop_primary", "left_total", "unprompted")
    }
    for ch in state.channels:
        got[f"right_{ch}"] = Counter({items[k]: int(v) for k, v in enumerate(c.right_total[ch])})
        m = c.k11[ch].tocoo()
        got[f"k11_{ch}"] = Counter(
            {(items[i], items[j]): int(v) for i, j, v in zip(m.row, m.col, m.data, strict=True)}
        )
    want = naive_counts(events, params)
    assert {k: +v for k, v in got.items()} == {k: +v for k, v in want.items()}
    write_state(tmp / "again", state)
    assert state_table(read_state(tmp / "again")) == state_table(state)


def test_state_json_names_format_and_inputs(tmp_path: Path) -> None:
    """``state.json`` records the format version, N, t_ref, the settings as run and the
    content hash of every input file."""
    write_events_csv(tmp_path / "e.csv", [("u1", "purchased", "i1", 5), ("u2", "viewed", "i1", 9)])
    run(tmp_path / "e.csv", out=tmp_path / "out", output=OutputParams(db="none"))
    state = read_state(tmp_path / "out" / "model")
    meta = json.loads((tmp_path / "out" / "model" / "state.json").read_text())
    assert meta["format_version"] == 4 and meta["n_users"] == 2 and meta["t_ref"] == T0 + 9
    assert meta["timed"] is True and meta["next_position"] == 2
    assert meta["files"] == [
        {
            "file": str(tmp_path / "e.csv"),
            "sha256": hashlib.sha256((tmp_path / "e.csv").read_bytes()).hexdigest(),
        }
    ]
    assert state.params == RecommendParams()


@settings(deadline=None)  # the first call loads the numba kernel
@given(
    rows=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 3)), max_size=25)
)
def test_is_sorted_means_rows_strictly_increasing(rows: list[tuple[int, int, int]]) -> None:
    """``History.is_sorted``: the rows in their order are strictly increasing (u, a, i)
    tuples; and ``sorted()`` of distinct rows is sorted."""
    u, a, i = (np.array([r[k] for r in rows], dtype=d) for k, d in enumerate(DTYPES))
    h = History(u, a, i, np.zeros(len(rows), np.int64), np.ones(len(rows), np.int32))
    assert h.is_sorted() == all(x < y for x, y in itertools.pairwise(rows))
    distinct = sorted(set(rows))
    u, a, i = (np.array([r[k] for r in distinct], dtype=d) for k, d in enumerate(DTYPES))
    assert (
        History(u, a, i, np.zeros(len(distinct), np.int64), np.ones(len(distinct), np.int32))
        .sorted()
        .is_sorted()
    )


DTYPES = (np.int32, np.int8, np.int32)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 9).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.dictionaries(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), st.integers(1, 99)
            ),
            st.permutations(range(n)),
        )
    )
)
def test_permute_renames_rows_and_columns(case: tuple[int, dict, list[int]]) -> None:
    """The renaming kernel gives the matrix SciPy builds from renamed (row, column) pairs."""
    n, entries, perm = case
    rows = np.array([k[0] for k in entries], dtype=np.int32)
    cols = np.array([k[1] for k in entries], dtype=np.int32)
    data = np.array(list(entries.values()), dtype=np.int32)
    rank = np.array(perm, dtype=np.int32)
    m = sp.csr_matrix((data, (rows, cols)), shape=(n, n))
    got = _permute(m, rank)
    expected = sp.csr_matrix((data, (rank[rows], rank[cols])), shape=(n, n))
    expected.sort_indices()
    assert np.array_equal(got.indptr, expected.indptr)
    assert np.array_equal(got.indices, expected.indices)
    assert np.array_equal(got.data, expected.data)


def _cells(n: int, values: st.SearchStrategy[int]) -> st.SearchStrategy[list]:
    """(row, column, value) entries of an n x n matrix, repeats allowed."""
    return st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), values), max_size=25)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 8).flatmap(
        lambda n: st.tuples(
            st.just(n),
            _cells(n, st.integers(1, 5)),
            _cells(n, st.integers(-5, 5)),
            st.sampled_from([1, -1]),
            st.sampled_from([np.int32, np.int64]),
        )
    )
)
def test_add_sorted_is_scipys_sum_without_zeros(case: tuple) -> None:
    """The merge kernel gives SciPy's ``m + sign * part`` with its zero sums removed (the
    pairs a fold takes away entirely), sorted, in the same dtype."""
    n, cells, changes, sign, part_type = case

    def matrix(entries: list, dtype: type) -> sp.csr_matrix:
        r, c, v = (np.array([e[k] for e in entries], dtype=np.int64) for k in range(3))
        return sp.csr_matrix((v.astype(dtype), (r, c)), shape=(n, n))

    m = matrix(cells, np.int32)
    m.sum_duplicates()
    part = matrix(changes, part_type)
    expected = m + part if sign > 0 else m - part
    expected.eliminate_zeros()
    expected.sort_indices()
    got = add_sorted(m, part, sign)
    assert got.dtype == expected.dtype
    assert np.array_equal(got.indptr, expected.indptr)
    assert np.array_equal(got.indices, expected.indices)
    assert np.array_equal(got.data, expected.data)
    assert np.all(got.data != 0)
