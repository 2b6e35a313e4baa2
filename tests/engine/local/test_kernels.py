"""The numba kernels follow the pure ranking rules exactly."""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.engine.local.counts import contains
from shopscale.engine.local.kernels import (
    _transpose,
    compact_in_place,
    contains_sorted,
    group_keys,
    insert_sorted,
    move_down,
    row_keys,
    score_users,
    selection_csr,
    top_k_csr,
    transpose,
    value_order,
)
from shopscale.recommend.ranking import reference_top_n, top_k_per_row

SCORES = st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.0])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 9), SCORES),
        max_size=70,
        unique_by=lambda e: (e[0], e[1]),
    ),
    st.integers(1, 5),
)
def test_top_k_csr_equals_pure_rule(entries: list[tuple[int, int, float]], k: int) -> None:
    """top_k_csr keeps the same entries, in the same order, as ranking.top_k_per_row."""
    entries.sort()
    rows = np.array([e[0] for e in entries], dtype=np.int32)
    cols = np.array([e[1] for e in entries], dtype=np.int32)
    scores = np.array([e[2] for e in entries], dtype=np.float64)
    indptr = np.zeros(8, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=7), out=indptr[1:])
    assert (
        top_k_csr(indptr, cols, scores, k).tolist() == top_k_per_row(rows, cols, scores, k).tolist()
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 7), max_size=5, unique=True), min_size=1, max_size=6),
    st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 7), SCORES),
        max_size=30,
        unique_by=lambda e: (e[0], e[1]),
    ),
    st.lists(st.lists(st.integers(0, 7), max_size=3, unique=True), min_size=6, max_size=6),
    st.permutations(range(8)),
    st.integers(1, 5),
    st.booleans(),
    st.dictionaries(st.integers(0, 7), st.sampled_from([0.5, 1.0, 3.0]), max_size=3),
)
def test_score_users_equals_reference(history, votes, exclude, popular, n, backfill, prior) -> None:  # type: ignore[no-untyped-def]
    """For every user: prior plus vote sums, exclusions, top-n with id tie-breaks and backfill
    as specified."""
    n_items = 8
    h = sp.csr_matrix(
        (
            np.ones(sum(map(len, history))),
            np.concatenate([sorted(x) for x in history] + [[]]).astype(np.int32),
            np.r_[0, np.cumsum([len(x) for x in history])],
        ),
        shape=(len(history), n_items),
    )
    v = sp.coo_matrix(
        ([s for _, _, s in votes], ([j for j, _, _ in votes], [i for _, i, _ in votes])),
        shape=(n_items, n_items),
    ).tocsr()
    v.sort_indices()
    ex = [sorted(x) for x in exclude[: len(history)]]
    e_ptr = np.r_[0, np.cumsum([len(x) for x in ex])].astype(np.int64)
    e_idx = np.array([i for x in ex for i in x], dtype=np.int32)
    items, scores, source = score_users(
        (h.indptr.astype(np.int64), h.indices, h.data),
        (v.indptr.astype(np.int64), v.indices, v.data),
        (e_ptr, e_idx),
        np.array(popular, dtype=np.int32),
        n_items=n_items,
        n=n,
        backfill=backfill,
        prior=(np.array(sorted(prior), np.int32), np.array([prior[i] for i in sorted(prior)])),
    )
    for u, hist in enumerate(history):
        acc: dict[int, float] = dict(prior)
        for j in sorted(hist):
            for p in range(v.indptr[j], v.indptr[j + 1]):
                if v.data[p] > 0:
                    acc[int(v.indices[p])] = acc.get(int(v.indices[p]), 0.0) + float(v.data[p])
        want = reference_top_n(acc, set(ex[u]), list(popular), n, backfill)
        got = [
            (int(items[u, r]), float(scores[u, r]), "model" if source[u, r] == 1 else "backfill")
            for r in range(n)
            if source[u, r] != 0
        ]
        assert got == want


CELLS = st.sampled_from([None, None, None, 0.0, 0.1, 0.3, 1.0, 1.0, 2.0, 7.5, 1e6, 3e-320])
NEGATIVE = st.sampled_from([None, None, -1.0, 0.5, 2.0])
WEIGHTS = st.sampled_from([0.0, 0.25, 0.5, 0.7071067811865476, 1.0, 1.0, 2.0, 1e6])


@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 12),
    st.data(),
    st.integers(1, 6),
    st.integers(0, 4),
    st.integers(0, 30),
    st.sampled_from([CELLS, CELLS, CELLS, NEGATIVE]),
)
def test_ranking_from_row_heads_is_the_full_ranking(  # type: ignore[no-untyped-def]
    n_items, data, n, depth, least_work, cell_values
) -> None:
    """Users ranked from the heads of their vote rows (with a bound on the rest) get the very
    lists, scores and bits of the full sum: any head depth, any threshold, tied votes, zero
    and tiny votes, repeated and zero weights (decays), exclusions, backfill, every user; a
    vote below 0 (which no formula gives) turns the heads off."""
    n_rows = 2 * n_items  # two channels
    cells = st.lists(cell_values, min_size=n_items, max_size=n_items)
    dense = np.array(data.draw(st.lists(cells, min_size=n_rows, max_size=n_rows)), dtype=object)
    present = dense != None  # noqa: E711 (elementwise)
    v = sp.csr_matrix(
        (dense[present].astype(np.float64), np.nonzero(present)), shape=(n_rows, n_items)
    )
    entries = st.tuples(st.integers(0, n_rows - 1), WEIGHTS)
    users = st.lists(st.lists(entries, max_size=8, unique_by=lambda e: e[0]), min_size=1)
    rows = [sorted(h) for h in data.draw(users)]
    excluded = st.lists(st.integers(0, n_items - 1), max_size=3, unique=True)
    exclude = [sorted(data.draw(excluded)) for _ in rows]
    h_ptr = np.r_[0, np.cumsum([len(r) for r in rows])].astype(np.int64)
    h_idx = np.array([j for r in rows for j, _ in r], dtype=np.int32)
    h_val = np.array([w for r in rows for _, w in r], dtype=np.float64)
    e_ptr = np.r_[0, np.cumsum([len(x) for x in exclude])].astype(np.int64)
    e_idx = np.array([i for x in exclude for i in x], dtype=np.int32)
    similar = (v.indptr.astype(np.int64), v.indices, v.data)
    args = ((h_ptr, h_idx, h_val), similar, (e_ptr, e_idx), np.arange(n_items, dtype=np.int32))
    order = value_order(similar, n_items, depth=depth, least_work=least_work)
    for backfill in (False, True):
        full = score_users(*args, n_items=n_items, n=n, backfill=backfill)
        pruned = score_users(*args, n_items=n_items, n=n, backfill=backfill, order=order)
        for want, got in zip(full, pruned, strict=True):
            assert want.tobytes() == got.tobytes()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 8), st.floats(0, 9)),
        max_size=40,
        unique_by=lambda e: (e[0], e[1]),
    ),
    st.integers(1, 9),
)
def test_transpose_equals_scipy(entries: list[tuple[int, int, float]], n_blocks: int) -> None:
    """The votes by candidate are SciPy's transpose, rows ascending in each column, however
    many blocks of rows are placed in parallel (more blocks than rows included)."""
    m = sp.coo_matrix(
        ([e[2] for e in entries], ([e[0] for e in entries], [e[1] for e in entries])),
        shape=(7, 9),
    ).tocsr()
    m.sort_indices()
    want = m.T.tocsr()
    want.sort_indices()
    similar = (m.indptr.astype(np.int64), m.indices, m.data)
    t_ptr = np.zeros(10, dtype=np.int64)
    t_idx = np.empty(m.nnz, dtype=np.int32)
    t_val = np.empty(m.nnz, dtype=np.float64)
    _transpose(*similar, t_ptr, t_idx, t_val, n_blocks)
    for got in ((t_ptr, t_idx, t_val), transpose(similar, 9)):
        assert got[0].tolist() == want.indptr.tolist()
        assert got[1].tolist() == want.indices.tolist()
        assert got[2].tobytes() == want.data.tobytes()


def test_a_zero_vote_does_not_count_its_item_twice_among_the_heads() -> None:
    """Item 0 is touched by a zero vote, then by a real one: it is one candidate, so the
    bound must be checked against the second best item (1), which a head-only list needs."""
    v = sp.csr_matrix(
        (np.array([0.0, 5.0, 1.0, 0.5]), np.array([0, 0, 1, 2]), np.array([0, 1, 2, 4])),
        shape=(3, 3),
    )
    similar = (v.indptr.astype(np.int64), v.indices, v.data)
    history = (np.array([0, 3], np.int64), np.array([0, 1, 2], np.int32), np.ones(3))
    exclude = (np.zeros(2, np.int64), np.zeros(0, np.int32))
    args = (history, similar, exclude, np.arange(3, dtype=np.int32))
    order = value_order(similar, 3, depth=1, least_work=0)
    items, scores, _ = score_users(*args, n_items=3, n=2, backfill=False, order=order)
    assert items[0].tolist() == [0, 1]
    assert scores[0].tolist() == [5.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-5, 40), max_size=30),
    st.lists(st.integers(-5, 40), max_size=30),
)
def test_contains_equals_isin(stored: list[int], asked: list[int]) -> None:
    """Membership in a sorted key array is np.isin, for ascending questions (the merge walk)
    and for questions in any order (the binary search)."""
    keys = np.unique(np.array(stored, dtype=np.int64))
    shuffled = np.array(asked, dtype=np.int64)
    for questions in (np.sort(shuffled), shuffled):
        assert np.array_equal(contains(keys, questions), np.isin(questions, keys))
        assert np.array_equal(
            contains_sorted(keys, np.sort(questions)), np.isin(np.sort(questions), keys)
        )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(-9, 9), max_size=30),
    st.lists(st.tuples(st.integers(0, 30), st.integers(-9, 9)), max_size=20),
    st.sampled_from([np.int8, np.int32, np.int64, np.bool_]),
)
def test_insert_sorted_equals_np_insert(
    stored: list[int], inserted: list[tuple[int, int]], dtype: type
) -> None:
    """The fold's one-pass insertion is ``np.insert`` for ascending positions, repeated
    positions and positions at either end included, in every column type it inserts into."""
    old = np.array(stored).astype(dtype)
    inserted = sorted((min(at, old.size), v) for at, v in inserted)
    at = np.array([p for p, _ in inserted], dtype=np.int64)
    new = np.array([v for _, v in inserted]).astype(dtype)
    got = insert_sorted(old, at, new)
    assert got.dtype == old.dtype
    assert np.array_equal(got, np.insert(old, at, new))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 5), st.integers(0, 2**31 - 1))),
    st.integers(1, 6),
    st.integers(1, 2**31),
)
def test_row_and_group_keys_equal_numpy(
    rows: list[tuple[int, int, int]], n_actions: int, n_items: int
) -> None:
    """The one-pass keys are NumPy's int64 formulas, for one action per row or one for all."""
    u = np.array([r[0] for r in rows], dtype=np.int32)
    a = np.array([r[1] for r in rows], dtype=np.int8)
    i = np.array([r[2] for r in rows], dtype=np.int32)
    wide = u.astype(np.int64) * n_actions
    assert np.array_equal(row_keys(u, a, i, n_actions, n_items), (wide + a) * n_items + i)
    assert np.array_equal(row_keys(u, 3, i, n_actions, n_items), (wide + 3) * n_items + i)
    assert np.array_equal(group_keys(u, a, n_actions), wide + a)


@settings(max_examples=100, deadline=None)
@given(
    st.sets(st.tuples(st.integers(0, 7), st.integers(0, 2), st.integers(0, 9)), max_size=60),
    st.lists(st.booleans(), min_size=8, max_size=8),
    st.integers(0, 2),
)
def test_selection_csr_equals_masked_rows(
    rows: set[tuple[int, int, int]], marked: list[bool], code: int
) -> None:
    """The two-pass selection is the users x items matrix of the masked, sorted rows."""
    ordered = sorted(rows)
    u = np.array([r[0] for r in ordered], dtype=np.int32)
    a = np.array([r[1] for r in ordered], dtype=np.int8)
    i = np.array([r[2] for r in ordered], dtype=np.int32)
    users = np.array(marked)
    indptr, indices = selection_csr(u, a, i, users, code)
    mine = users[u] & (a == code)
    data = np.ones(int(mine.sum()), dtype=np.int32)
    expected = sp.csr_matrix((data, (u[mine], i[mine])), shape=(8, 10))
    got = sp.csr_matrix((np.ones(indices.size, np.int32), indices, indptr), shape=(8, 10))
    assert np.array_equal(got.indptr, expected.indptr)
    assert np.array_equal(got.indices, expected.indices)


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(-50, 50), st.booleans()), max_size=40),
    parts=st.lists(st.integers(0, 8), min_size=1, max_size=4),
)
def test_compact_then_close_up_is_concatenated_masks(
    rows: list[tuple[int, bool]], parts: list[int]
) -> None:
    """Compacting each slice in place and moving the slices down to follow each other gives
    what concatenating each slice's kept rows gives (the fold's history buffer), in every
    column type the history has; insert_sorted into a given buffer equals a new one."""
    values = np.array([r[0] for r in rows], dtype=np.int64)
    kept = np.array([r[1] for r in rows], dtype=bool)
    cuts = [*np.unique(np.clip(np.cumsum([0, *parts]), 0, values.size)).tolist(), values.size]
    slices = [slice(a, b) for a, b in itertools.pairwise(cuts) if a < b]
    for dtype in (np.int8, np.int32, np.int64):
        column = values.astype(dtype)
        want = np.concatenate([column[p][kept[p]] for p in slices] + [column[:0]])
        end = 0
        for p in slices:
            n = compact_in_place([column[p]], kept[p])
            move_down([column], p.start, end, n)
            end += n
        assert column[:end].tolist() == want.tolist()
    at = np.sort(np.arange(values.size) % 3)[: values.size // 2].astype(np.int64)
    new = np.arange(at.size, dtype=np.int64)
    into = np.empty(values.size + at.size, dtype=np.int64)
    assert insert_sorted(values, at, new, out=into) is into
    assert into.tolist() == np.insert(values, at, new).tolist()
