"""Numba kernels of the local engine: score a shard of users and keep each one's top n.

The rules are those of ``recommend.ranking.reference_top_n`` (score desc, item code asc,
excluded items never listed, backfill from popularity order); tests compare the two.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
import numpy.typing as npt

# One parallel kernel at a time: each uses every core already, and numba's fallback threading
# layer (workqueue, when OpenMP and TBB are missing) aborts on concurrent launches.
_PARALLEL = threading.Lock()
_Csr = tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]]

# Accumulator value of an item the user must not get: votes cannot lift it near zero.
_EXCLUDED = -1.0e300
PRUNE_DEPTH = 2
"""Votes read from the head of each long row before a user's list is tried by bound."""
PRUNE_MIN_WORK = 128
"""A user whose history rows hold at most this many votes is scored in full."""
PRUNE_SLACK = 1e-9
"""Relative slack on the bound: far above the rounding of sums of a few thousand votes."""


@numba.njit(cache=True, nogil=True)
def _insert(best_i, best_s, m, n, item, score):
    """Insert (item, score) into the sorted buffer of the m best so far; return the new m."""
    if m == n:
        last = m - 1
        if score < best_s[last] or (score == best_s[last] and item > best_i[last]):
            return m
        pos = last
    else:
        pos = m
        m += 1
    while pos > 0 and (
        best_s[pos - 1] < score or (best_s[pos - 1] == score and best_i[pos - 1] > item)
    ):
        best_s[pos] = best_s[pos - 1]
        best_i[pos] = best_i[pos - 1]
        pos -= 1
    best_s[pos] = score
    best_i[pos] = item
    return m


@numba.njit(cache=True, nogil=True)
def _score_block(
    lo, hi, history, similar, order, exclude, prior, popular, n_items, n, backfill, out
):
    """Score users lo..hi-1 with one accumulator; write their lists into ``out`` (items,
    scores, source). ``history``, ``similar`` (CSR ptr, idx, val), ``exclude`` (ptr, idx) and
    ``prior`` (idx, val) are tuples of arrays, as ``score_users`` takes them; ``order`` is
    ``value_order(similar)`` (no rows: every user is scored in full)."""
    acc = np.zeros(n_items, dtype=np.float64)
    touched = np.empty(n_items + 1, dtype=np.int32)
    _score_rows(
        lo, hi, history, similar, order, exclude, prior, popular, n, backfill, out, acc, touched
    )


@numba.njit(cache=True, nogil=True)
def _score_rows(
    lo, hi, history, similar, order, exclude, prior, popular, n, backfill, out, acc, touched
):
    """``_score_block`` with its accumulator (all 0 on entry, and again on return) and
    candidate buffer given: the service scores one user per request without allocating and
    clearing one float per item each time.

    Per user: excluded items hold a huge negative sentinel, so votes never make them
    candidates and the selection needs no second lookup. A user whose history rows hold many
    votes is first tried with the heads of its long rows only (``_pruned``); where that cannot
    prove its list, or for few votes, every vote is added (``_vote_all``, ``_select``)."""
    e_ptr, e_idx = exclude
    prior_idx = prior[0]
    out_items, out_scores, out_source = out
    best_i = np.empty(n, dtype=np.int32)
    best_s = np.empty(n, dtype=np.float64)
    for u in range(lo, hi):
        for p in range(e_ptr[u], e_ptr[u + 1]):
            acc[e_idx[p]] = _EXCLUDED
        m = -1
        if order[0].size > 1 and prior_idx.size == 0 and n > 0:
            m = _pruned(u, history, similar, order, acc, touched, n, best_i, best_s)
        if m < 0:
            nt = _vote_all(u, history, similar, prior, acc, touched)
            m = _select(touched, nt, acc, n, best_i, best_s)
        for r in range(m):
            out_items[u, r] = best_i[r]
            out_scores[u, r] = best_s[r]
            out_source[u, r] = 1
        if backfill:
            k = 0
            while m < n and k < popular.size:
                i = popular[k]
                k += 1
                if acc[i] < 0.0 or _listed(out_items[u], m, i):
                    continue
                out_items[u, m] = i
                out_scores[u, m] = 0.0
                out_source[u, m] = 2
                m += 1
        for p in range(e_ptr[u], e_ptr[u + 1]):
            acc[e_idx[p]] = 0.0


@numba.njit(cache=True, nogil=True)
def _vote_all(u, history, similar, prior, acc, touched):
    """Add the prior and every vote of user u's history into ``acc``, in history order;
    return how many candidates were touched (listed in ``touched``, first touch only)."""
    h_ptr, h_idx, h_val = history
    s_ptr, s_idx, s_val = similar
    prior_idx, prior_val = prior
    nt = 0
    for p in range(prior_idx.size):  # every user's scores start from the item prior
        i = prior_idx[p]
        a = acc[i]
        touched[nt] = i
        nt += a == 0.0
        acc[i] = a + prior_val[p]
    for p in range(h_ptr[u], h_ptr[u + 1]):
        j = h_idx[p]
        w = h_val[p]
        if w <= 0.0:
            continue
        for q in range(s_ptr[j], s_ptr[j + 1]):
            i = s_idx[q]
            a = acc[i]
            touched[nt] = i  # kept only on first touch (nt grows only then)
            nt += a == 0.0
            acc[i] = a + w * s_val[q]
    return nt


@numba.njit(cache=True, nogil=True)
def _select(touched, nt, acc, n, best_i, best_s):
    """The n best touched candidates (score desc, item asc; score > 0) into ``best_i``,
    ``best_s``; return how many. Reads each candidate once and clears it; only candidates
    that beat the current n-th best are inserted."""
    m = 0
    t = 0
    while t < nt and m < n:  # fill the buffer
        i = touched[t]
        s = acc[i]
        acc[i] = 0.0
        t += 1
        if s > 0.0:  # a vote that underflowed to 0 is no vote
            m = _insert(best_i, best_s, m, n, i, s)
    if m == n:
        low_s, low_i = best_s[n - 1], best_i[n - 1]
        while t < nt:
            i = touched[t]
            s = acc[i]
            acc[i] = 0.0
            t += 1
            if s > low_s or (s == low_s and i < low_i):
                _insert(best_i, best_s, m, n, i, s)
                low_s, low_i = best_s[n - 1], best_i[n - 1]
    return m


@numba.njit(cache=True, nogil=True)
def _pruned(u, history, similar, order, acc, touched, n, best_i, best_s):
    """User u's top n from the heads of its long vote rows, or -1 where the heads cannot
    prove it (then nothing is left in ``acc`` but the exclusions).

    Every vote is >= 0, so a candidate's sum over some of its votes (in history order) is
    at most its full sum, and the votes it misses, one per long row beyond that row's head
    (``order``: ``value_order``'s heads), are each at most that row's next vote. With L the
    n-th best partial sum, no candidate whose partial sum plus the rows' next votes
    (``bound``, with slack for rounding) stays under L can be listed; the others get their
    full sum from their column of votes (``_full_sum``), added in history order: the very
    bits ``_vote_all`` gives."""
    h_ptr, h_idx, h_val = history
    s_ptr, s_idx, s_val = similar
    head_ptr, head_idx, head_val, next_val, t_ptr, t_idx, t_val, least_work = order
    work = 0
    for p in range(h_ptr[u], h_ptr[u + 1]):
        if p > h_ptr[u] and h_idx[p] <= h_idx[p - 1]:
            return -1  # the full sums below walk the history in column order
        if h_val[p] > 0.0:
            j = h_idx[p]
            work += s_ptr[j + 1] - s_ptr[j]
    if work <= least_work:
        return -1
    nt = 0
    bound = 0.0
    for p in range(h_ptr[u], h_ptr[u + 1]):
        j = h_idx[p]
        w = h_val[p]
        if w <= 0.0:
            continue
        if head_ptr[j + 1] > head_ptr[j]:  # a long row: its head, and a bound on the rest
            ids, votes, lo, hi = head_idx, head_val, head_ptr[j], head_ptr[j + 1]
            bound += w * next_val[j]
        else:
            ids, votes, lo, hi = s_idx, s_val, s_ptr[j], s_ptr[j + 1]
        for q in range(lo, hi):
            i = ids[q]
            a = acc[i]
            touched[nt] = i
            nt += a == 0.0
            acc[i] = a + w * votes[q]
    m = 0
    for t in range(nt):  # the n best partial sums, left in acc negated (read once: a zero
        i = touched[t]  # vote lists its item again)
        s = acc[i]
        if s > 0.0:
            m = _insert(best_i, best_s, m, n, i, s)
            acc[i] = -s
    slack = 1.0 + PRUNE_SLACK
    if m < n or bound * slack >= best_s[n - 1]:
        for t in range(nt):
            acc[touched[t]] = 0.0
        return -1
    low = best_s[n - 1]
    c = 0
    for t in range(nt):  # the candidates that may still reach the list, to the front
        i = touched[t]
        s = -acc[i]
        acc[i] = 0.0
        if s > 0.0 and (s + bound) * slack >= low:
            touched[c] = i
            c += 1
    m = 0
    for t in range(c):
        i = touched[t]
        s = _full_sum(u, i, history, t_ptr, t_idx, t_val)
        m = _insert(best_i, best_s, m, n, i, s)
    return m


@numba.njit(cache=True, nogil=True)
def _full_sum(u, i, history, t_ptr, t_idx, t_val):
    """Candidate i's score for user u: every vote for it, added in history order as
    ``_vote_all`` adds them. ``t_*``: the votes by candidate (CSR items x rows, rows
    ascending), walked beside the user's history (rows ascending): no search in long rows."""
    h_ptr, h_idx, h_val = history
    a = 0.0
    q, end = t_ptr[i], t_ptr[i + 1]
    for p in range(h_ptr[u], h_ptr[u + 1]):
        j = h_idx[p]
        while q < end and t_idx[q] < j:
            q += 1
        if q == end:
            break
        w = h_val[p]
        if t_idx[q] == j and w > 0.0:
            a = a + w * t_val[q]
    return a


@numba.njit(cache=True, parallel=True, nogil=True)
def _fill_heads(ptr, idx, val, depth, head_ptr, head_idx, head_val, next_val):
    """Each long row's ``depth`` best entries (value desc, column asc: ``offer``) and the
    value of the next one, in one pass over the row; rows in parallel blocks."""
    n_rows = ptr.size - 1
    n_blocks = min(n_rows, 256)
    for b in numba.prange(n_blocks):
        best_s = np.empty(depth + 1, dtype=np.float64)
        best_c = np.empty(depth + 1, dtype=np.int64)
        best_p = np.empty(depth + 1, dtype=np.int64)
        for r in range(b * n_rows // n_blocks, (b + 1) * n_rows // n_blocks):
            at = head_ptr[r]
            if head_ptr[r + 1] == at:
                continue
            m = 0
            for q in range(ptr[r], ptr[r + 1]):
                m = offer(best_s, best_c, best_p, m, depth + 1, val[q], idx[q], q)
            for k in range(depth):
                head_idx[at + k] = best_c[k]
                head_val[at + k] = best_s[k]
            next_val[r] = best_s[depth]


@numba.njit(cache=True, parallel=True, nogil=True)
def _transpose(ptr, idx, val, t_ptr, t_idx, t_val, n_blocks):
    """CSR of the transposed matrix into ``t_*`` (``t_ptr`` all 0 on entry): the rows cut
    into blocks, each block's column counts and then its entries placed in parallel, block
    b's entries of a column after those of blocks before it, so rows come out ascending
    within each column, as one pass over the rows in order places them."""
    n_rows = ptr.size - 1
    n_cols = t_ptr.size - 1
    counts = np.zeros((n_blocks, n_cols), dtype=np.int64)
    for b in numba.prange(n_blocks):
        for q in range(ptr[b * n_rows // n_blocks], ptr[(b + 1) * n_rows // n_blocks]):
            counts[b, idx[q]] += 1
    for c in range(n_cols):  # block b starts column c after blocks 0..b-1
        at = t_ptr[c]
        for b in range(n_blocks):
            k = counts[b, c]
            counts[b, c] = at
            at += k
        t_ptr[c + 1] = at
    for b in numba.prange(n_blocks):
        at = counts[b]
        for r in range(b * n_rows // n_blocks, (b + 1) * n_rows // n_blocks):
            for q in range(ptr[r], ptr[r + 1]):
                c = idx[q]
                d = at[c]
                t_idx[d] = r
                t_val[d] = val[q]
                at[c] = d + 1


def transpose(similar: _Csr, n_cols: int) -> _Csr:
    """The CSR (ptr, idx, val) of a CSR's transpose, columns ascending in each row (on every
    core: one block of rows per thread)."""
    ptr, idx, val = similar
    t_ptr = np.zeros(n_cols + 1, dtype=np.int64)
    t_idx = np.empty(idx.size, dtype=np.int32)
    t_val = np.empty(idx.size, dtype=np.float64)
    n_blocks = max(1, min(ptr.size - 1, numba.get_num_threads()))
    with _PARALLEL:
        _transpose(ptr, idx, val, t_ptr, t_idx, t_val, n_blocks)
    return t_ptr, t_idx, t_val


Order = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.int32],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int32],
    npt.NDArray[np.float64],
    int,
]
"""``value_order``'s heads: (ptr, items, votes) of each long row's head, each row's next
vote, the votes by candidate, and the least work a user must have to be ranked from the
heads."""


def value_order(
    similar: _Csr,
    n_items: int,
    *,
    depth: int = PRUNE_DEPTH,
    least_work: int = PRUNE_MIN_WORK,
) -> Order:
    """What ``score_users`` prunes with: of each row longer than ``depth``, its ``depth``
    best votes in a compact copy (read in turn, not scattered over the row) and the next
    one (shorter rows are read whole); and the votes by candidate, for the full sums of the
    few candidates left. Users whose rows hold more than ``least_work`` votes are tried
    from the heads. Votes below 0 (or NaN) give no heads: every user is scored in full."""
    ptr, idx, val = similar
    if not bool(np.all(val >= 0.0)):  # the bound needs votes >= 0 (all are, by their formulas)
        return _NO_ORDER
    t_ptr, t_idx, t_val = transpose(similar, n_items)
    n_rows = ptr.size - 1
    head_ptr = np.zeros(n_rows + 1, dtype=np.int64)  # a head of ``depth`` per longer row
    np.cumsum(np.where(np.diff(ptr) > depth, depth, 0), out=head_ptr[1:])
    next_val = np.zeros(n_rows, dtype=np.float64)
    head_idx = np.empty(int(head_ptr[-1]), dtype=np.int32)
    head_val = np.empty(int(head_ptr[-1]), dtype=np.float64)
    if head_idx.size:
        with _PARALLEL:
            _fill_heads(ptr, idx, val, np.int64(depth), head_ptr, head_idx, head_val, next_val)
    return head_ptr, head_idx, head_val, next_val, t_ptr, t_idx, t_val, int(least_work)


@numba.njit(cache=True, nogil=True)
def _listed(items, m, item):
    """Whether ``item`` is among the first m entries of ``items`` (m is at most n, small)."""
    for r in range(m):  # noqa: SIM110 (a plain loop compiles in nopython mode)
        if items[r] == item:
            return True
    return False


@numba.njit(cache=True, parallel=True, nogil=True)
def _score_all(
    history, similar, order, exclude, prior, popular, n_items, n, backfill, out, n_blocks
):
    """Split users into blocks and score the blocks in parallel."""
    n_users = history[0].size - 1
    for b in numba.prange(n_blocks):
        lo = b * n_users // n_blocks
        hi = (b + 1) * n_users // n_blocks
        _score_block(
            lo, hi, history, similar, order, exclude, prior, popular, n_items, n, backfill, out
        )


def score_users(
    history: tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]],
    similar: tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]],
    exclude: tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]],
    popular: npt.NDArray[np.int32],
    *,
    n_items: int,
    n: int,
    backfill: bool,
    prior: tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]] | None = None,
    order: Order | None = None,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """Top-n (items, scores, source 1=model 2=backfill 0=empty) of each user of a shard.

    ``history`` is CSR users x (channels*items) with weights; ``similar`` is CSR
    (channels*items) x items, columns ascending: for a history entry, the candidates it
    votes for and the vote (>= 0). ``prior`` (items, values > 0) is added to every user's
    scores before any vote. ``order`` (``value_order(similar)``) lets users with many votes
    be ranked from the heads of their rows; the lists are the same bits either way.
    """
    prior_idx, prior_val = prior if prior is not None else (np.zeros(0, np.int32), np.zeros(0))
    n_users = history[0].size - 1
    out_items = np.full((n_users, n), -1, dtype=np.int32)
    out_scores = np.zeros((n_users, n), dtype=np.float64)
    out_source = np.zeros((n_users, n), dtype=np.int8)
    if n_users == 0:
        return out_items, out_scores, out_source
    n_blocks = max(1, min(n_users, numba.get_num_threads() * 8))
    prior = (prior_idx.astype(np.int32), prior_val.astype(np.float64))
    out = (out_items, out_scores, out_source)
    with _PARALLEL:
        _score_all(
            history, similar, _no_order(order), exclude, prior, popular, n_items, n,
            backfill, out, n_blocks,
        )  # fmt: skip
    return out_items, out_scores, out_source


def score_user(
    history: tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]],
    similar: tuple[npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]],
    excluded: npt.NDArray[np.int32],
    popular: npt.NDArray[np.int32],
    *,
    n_items: int,
    n: int,
    backfill: bool,
    prior: tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64], npt.NDArray[np.int8]]:
    """``score_users`` for ONE user (history entries and weights, excluded item codes): the
    same block kernel on the calling thread, without a parallel launch (which would cost more
    than the scoring). The service ranks with it at request time, by the batch rule."""
    items = np.full((1, n), -1, dtype=np.int32)
    scores = np.zeros((1, n), dtype=np.float64)
    source = np.zeros((1, n), dtype=np.int8)
    h = (np.array([0, history[0].size], dtype=np.int64), history[0], history[1])
    e = (np.array([0, excluded.size], dtype=np.int64), excluded)
    acc, touched = _scratch(n_items)
    out = (items, scores, source)
    _score_rows(0, 1, h, similar, _NO_ORDER, e, prior, popular, n, backfill, out, acc, touched)
    return items[0], scores[0], source[0]


_SCRATCH = threading.local()
_NO_ORDER = (
    np.zeros(1, dtype=np.int64),
    np.zeros(0, dtype=np.int32),
    np.zeros(0, dtype=np.float64),
    np.zeros(0, dtype=np.float64),
    np.zeros(1, dtype=np.int64),
    np.zeros(0, dtype=np.int32),
    np.zeros(0, dtype=np.float64),
    0,
)


def _no_order(order: Order | None) -> Order:
    """``order`` as the kernel takes it: no positions for none."""
    return _NO_ORDER if order is None else order


def _scratch(n_items: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    """This thread's accumulator (kept all 0 by the kernel) and candidate buffer."""
    held = getattr(_SCRATCH, "arrays", None)
    if held is None or held[0].size != n_items:
        held = (np.zeros(n_items, dtype=np.float64), np.empty(n_items + 1, dtype=np.int32))
        _SCRATCH.arrays = held
    return held


@numba.njit(cache=True, nogil=True, inline="always")
def offer(best_s, best_c, best_p, m, k, s, c, p):
    """Offer entry (score s, column c, position p) to a row's buffer of its m <= k best so
    far, sorted by (score desc, column asc); return the new m. The top-k rule of
    ``ranking.top_k_per_row``, shared by the reduce kernels."""
    if m == k and (s < best_s[m - 1] or (s == best_s[m - 1] and c > best_c[m - 1])):
        return m
    at = m - 1 if m == k else m
    if m < k:
        m += 1
    while at > 0 and (best_s[at - 1] < s or (best_s[at - 1] == s and best_c[at - 1] > c)):
        best_s[at] = best_s[at - 1]
        best_c[at] = best_c[at - 1]
        best_p[at] = best_p[at - 1]
        at -= 1
    best_s[at] = s
    best_c[at] = c
    best_p[at] = p
    return m


@numba.njit(cache=True, parallel=True, nogil=True)
def _top_k_rows(indptr, indices, scores, k, out_pos):
    """Per CSR row, positions of the k best entries by (score desc, column asc), score > 0."""
    n_rows = indptr.size - 1
    n_blocks = min(n_rows, 256)
    for b in numba.prange(n_blocks):
        best_c = np.empty(k, dtype=np.int64)
        best_s = np.empty(k, dtype=np.float64)
        best_p = np.empty(k, dtype=np.int64)
        for r in range(b * n_rows // n_blocks, (b + 1) * n_rows // n_blocks):
            m = 0
            for p in range(indptr[r], indptr[r + 1]):
                s = scores[p]
                if s <= 0.0:
                    continue
                m = offer(best_s, best_c, best_p, m, k, s, indices[p], p)
            for t in range(m):
                out_pos[r, t] = best_p[t]


def top_k_csr(
    indptr: npt.NDArray[np.int64],
    indices: npt.NDArray[np.int32],
    scores: npt.NDArray[np.float64],
    k: int,
) -> npt.NDArray[np.int64]:
    """Positions kept by ``ranking.top_k_per_row`` for a CSR block, in row-major rank order."""
    n_rows = indptr.size - 1
    out = np.full((n_rows, k), -1, dtype=np.int64)
    if n_rows and scores.size:
        with _PARALLEL:
            _top_k_rows(indptr, indices, scores, k, out)
    flat = out.ravel()
    return flat[flat >= 0]


@numba.njit(cache=True, nogil=True)
def contains_sorted(sorted_keys, keys):
    """Whether each of ``keys`` (ascending) occurs in ``sorted_keys`` (ascending): one merge
    walk over both, no binary search (the fold asks this of ~1M keys in ~10M rows)."""
    out = np.zeros(keys.size, dtype=np.bool_)
    j, n = 0, sorted_keys.size
    for q in range(keys.size):
        k = keys[q]
        while j < n and sorted_keys[j] < k:
            j += 1
        out[q] = j < n and sorted_keys[j] == k
    return out


@numba.njit(cache=True, nogil=True)
def _spread(old, at, new, out):
    """Fill ``out`` with ``old``, ``new[k]`` placed before ``old[at[k]]`` (``at`` ascending)."""
    j = 0
    o = 0
    for k in range(at.size):
        stop = at[k]
        while j < stop:
            out[o] = old[j]
            o += 1
            j += 1
        out[o] = new[k]
        o += 1
    while j < old.size:
        out[o] = old[j]
        o += 1
        j += 1


def insert_sorted(
    old: npt.NDArray,
    at: npt.NDArray[np.int64],
    new: npt.NDArray,
    *,
    out: npt.NDArray | None = None,
) -> npt.NDArray:
    """``np.insert(old, at, new)`` for ascending ``at``, in one pass with no sort of ``at``
    (the fold inserts ~1M new history rows into ~10M stored ones, six columns); into
    ``out`` (of ``old.size + new.size`` rows) when given."""
    if out is None:
        out = np.empty(old.size + new.size, dtype=old.dtype)
    if out.size != old.size + new.size:
        raise ValueError(f"out has {out.size} rows, not {old.size + new.size}")
    _spread(old, np.ascontiguousarray(at, dtype=np.int64), new.astype(out.dtype, copy=False), out)
    return out


@numba.njit(cache=True, nogil=True)
def _compact(column, kept):
    """Move the kept rows of ``column`` to its start, in order; return how many."""
    w = 0
    for r in range(column.size):
        if kept[r]:
            column[w] = column[r]
            w += 1
    return w


def compact_in_place(columns: list[npt.NDArray[np.integer]], kept: npt.NDArray[np.bool_]) -> int:
    """Move each column's ``kept`` rows to its start, in order (``column[kept]`` with no new
    array: the fold windows a history in the buffer it merged it into); return how many."""
    n = int(np.count_nonzero(kept))
    if n < kept.size:
        for column in columns:
            _compact(column, kept)
    return n


@numba.njit(cache=True, nogil=True)
def _move_down(column, src, dst, n):
    """``column[dst:dst + n] = column[src:src + n]`` for ``dst <= src`` (front to back, so
    overlapping ranges copy right)."""
    for r in range(n):
        column[dst + r] = column[src + r]


def move_down(columns: list[npt.NDArray[np.integer]], src: int, dst: int, n: int) -> None:
    """Move rows ``src..src + n`` of each column down to ``dst`` (``dst <= src``)."""
    if dst > src:
        raise ValueError(f"rows move down only (from {src} to {dst})")
    for column in columns:
        _move_down(column, src, dst, n)


@numba.njit(cache=True, nogil=True)
def _row_keys(u, a, i, n_actions, n_items, out):
    for r in range(u.size):
        out[r] = (np.int64(u[r]) * n_actions + a[r]) * n_items + i[r]


def row_keys(
    u: npt.NDArray, a: int | npt.NDArray, i: npt.NDArray, n_actions: int, n_items: int
) -> npt.NDArray[np.int64]:
    """int64 keys ``(u * n_actions + a) * n_items + i`` of history rows (``a`` one action or
    one per row), in one pass: NumPy would make three int64 temporaries of every column."""
    out = np.empty(u.size, dtype=np.int64)
    per_row = a if isinstance(a, np.ndarray) else np.full(u.size, a, dtype=np.int8)
    _row_keys(u, per_row, i, np.int64(n_actions), np.int64(n_items), out)
    return out


@numba.njit(cache=True, nogil=True)
def _group_keys(u, a, n_actions, out):
    for r in range(u.size):
        out[r] = np.int64(u[r]) * n_actions + a[r]


def group_keys(u: npt.NDArray, a: npt.NDArray, n_actions: int) -> npt.NDArray[np.int64]:
    """int64 keys ``u * n_actions + a`` (one per (user, action)), in one pass."""
    out = np.empty(u.size, dtype=np.int64)
    _group_keys(u, a, np.int64(n_actions), out)
    return out


@numba.njit(cache=True, nogil=True)
def _selection_csr(u, a, i, users, code, indptr):
    """Two passes over history rows sorted by (u, a, i): count, then fill, the items of the
    rows of action ``code`` whose user is marked in ``users``."""
    for r in range(u.size):
        if a[r] == code and users[u[r]]:
            indptr[u[r] + 1] += 1
    for x in range(1, indptr.size):
        indptr[x] += indptr[x - 1]
    out = np.empty(indptr[-1], dtype=np.int32)
    at = 0
    for r in range(u.size):
        if a[r] == code and users[u[r]]:
            out[at] = i[r]
            at += 1
    return out


def selection_csr(
    u: npt.NDArray[np.int32],
    a: npt.NDArray[np.int8],
    i: npt.NDArray[np.int32],
    users: npt.NDArray[np.bool_],
    code: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """CSR (indptr, indices) of users x items: the rows of one action of the users marked in
    ``users``, from history rows sorted by (u, a, i), with no mask or temporary per row (the
    fold asks for six of these over the whole stored history)."""
    indptr = np.zeros(users.size + 1, dtype=np.int64)
    return indptr, _selection_csr(u, a, i, users, np.int8(code), indptr)
