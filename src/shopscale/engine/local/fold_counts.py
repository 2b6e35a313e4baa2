"""How a fold changes the counts: from the history rows that entered or left, not by counting
the touched users again.

Every count is a sum over users of their history's selections (``counts.count_users``): the
(user, item) pairs of one action, or of any action. A row (u, a, i) entering or leaving a
history changes a selection only at (u, i), so every marginal changes by a bincount over the
affected (u, i), and a pair count, a product L^T R of two selections, by
``dL^T R' + L^T dR`` (L before, R' after, dL and dR the signed changes). All integer sums, so
the result is exactly what counting everyone again gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from shopscale.engine.local.counts import ANY, contains, left_name
from shopscale.engine.local.kernels import row_keys, selection_csr
from shopscale.engine.local.reduce import csr_from_sorted
from shopscale.errors import ShopscaleError
from shopscale.recommend.model import Counts, History
from shopscale.recommend.params import RecommendParams

Keys = npt.NDArray[np.int64]
Signs = npt.NDArray[np.int32]


@dataclass(frozen=True)
class HistoryKeys:
    """int64 keys (u * n_actions + a) * n_items + i: ascending exactly in (u, a, i) order."""

    n_actions: int
    n_items: int
    n_users: int

    def __post_init__(self) -> None:
        if self.n_users * self.n_actions * max(self.n_items, 1) >= 2**63:
            raise ShopscaleError(
                f"{self.n_users} users x {self.n_actions} actions x {self.n_items} items "
                "overflow the fold's 64-bit row keys"
            )

    def make(self, u: npt.NDArray, a: int | npt.NDArray, i: npt.NDArray) -> Keys:
        """Keys of (u, a, i)."""
        return row_keys(u, a, i, self.n_actions, self.n_items)

    def of(self, h: History) -> Keys:
        """Keys of a history's rows."""
        return self.make(h.u, h.a, h.i)


@dataclass(frozen=True)
class Changes:
    """Rows that entered the histories and rows that left them."""

    added: History
    removed: History


def sorted_unique(x: npt.NDArray) -> npt.NDArray:
    """The distinct values, ascending (a sort: NumPy's hashing ``unique`` is far slower on
    wide int64 keys)."""
    s = np.sort(x)
    return s[np.r_[s.size > 0, s[1:] != s[:-1]][: s.size]]


def count_changes(
    before: tuple[History, Keys],
    after: tuple[History, Keys],
    changes: Changes,
    keys: HistoryKeys,
    actions: list[str],
    channels: list[str],
    params: RecommendParams,
) -> Counts:
    """What the fold adds to every count (negative where rows left): ``count_users`` of
    the ``after`` history minus that of ``before`` (each with its sorted keys), from the
    changed rows only."""
    n_items = keys.n_items
    c = changes
    pairs = sorted_unique(
        np.concatenate([_ui(c.added, n_items), _ui(c.removed, n_items)])
    )  # the (u, i) whose selections may change
    u, i = pairs // n_items, (pairs % n_items).astype(np.int32)
    held = [
        (contains(before[1], keys.make(u, a, i)), contains(after[1], keys.make(u, a, i)))
        for a in range(len(actions))
    ]
    left = left_name(params)
    names = {left, ANY, params.primary, *channels}
    sel = {n: _delta(held, actions, n) for n in names if n == ANY or n in actions}
    out = Counts.zeros(n_items, [])
    out.left_total += _signed_bincount(i, sel[left], n_items)
    out.pop_any += _signed_bincount(i, sel[ANY], n_items)
    if params.primary in sel:
        out.pop_primary += _signed_bincount(i, sel[params.primary], n_items)
    engaging = [ch for ch in channels if ch not in (left, ANY)]
    out.unprompted += _signed_bincount(i, _unprompted_delta(held, actions, left, engaging), n_items)
    d_left = _matrix(u, i, sel[left], keys)
    for ch in channels:
        out.right_total[ch] = _signed_bincount(i, sel[ch], n_items)
        d_right = _matrix(u, i, sel[ch], keys)
        right_after = _selection_matrix(after[0], ch, actions, _users(d_left), keys)
        left_before = _selection_matrix(before[0], left, actions, _users(d_right), keys)
        out.k11[ch] = (d_left.T.tocsr() @ right_after + left_before.T.tocsr() @ d_right).tocsr()
    return out


def _ui(h: History, n_items: int) -> Keys:
    """Keys u * n_items + i of a history's rows."""
    return h.u.astype(np.int64) * n_items + h.i


Held = list[tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]


def _member(held: Held, actions: list[str], name: str, side: int) -> npt.NDArray[np.bool_]:
    """Whether each (u, i) is in selection ``name`` before (side 0) or after (side 1)."""
    if name != ANY:
        return held[actions.index(name)][side]
    out = np.zeros(held[0][side].size, dtype=bool)
    for h in held:
        out |= h[side]
    return out


def _delta(held: Held, actions: list[str], name: str) -> Signs:
    """+1 where (u, i) entered selection ``name``, -1 where it left, else 0."""
    return _member(held, actions, name, 1).astype(np.int32) - _member(held, actions, name, 0)


def _unprompted_delta(held: Held, actions: list[str], left: str, engaging: list[str]) -> Signs:
    """Change of 'left pair with no engaging action on it' per (u, i)."""
    sides = []
    for side in (0, 1):
        flag = _member(held, actions, left, side).copy()
        for ch in engaging:
            flag &= ~_member(held, actions, ch, side)
        sides.append(flag)
    return sides[1].astype(np.int32) - sides[0]


def _signed_bincount(i: npt.NDArray[np.int32], sign: Signs, n_items: int) -> Keys:
    """Per item, the entries with sign +1 minus those with sign -1."""
    return np.bincount(i[sign > 0], minlength=n_items) - np.bincount(i[sign < 0], minlength=n_items)


def _matrix(u: Keys, i: npt.NDArray[np.int32], sign: Signs, keys: HistoryKeys) -> sp.csr_matrix:
    """Users x items of the nonzero signs ((u, i) sorted)."""
    nz = sign != 0
    return csr_from_sorted(u[nz], i[nz], keys.n_users, keys.n_items, data=sign[nz])


def _users(m: sp.csr_matrix) -> npt.NDArray[np.bool_]:
    """Per user, whether the matrix has an entry in its row."""
    return np.diff(m.indptr) > 0


def _selection_matrix(
    h: History, name: str, actions: list[str], users: npt.NDArray[np.bool_], keys: HistoryKeys
) -> sp.csr_matrix:
    """Users x items (1 each) of selection ``name`` of the given users' rows of ``h``."""
    if name != ANY:
        indptr, indices = selection_csr(h.u, h.a, h.i, users, actions.index(name))
        data = np.ones(indices.size, dtype=np.int32)
        return sp.csr_matrix((data, indices, indptr), shape=(keys.n_users, keys.n_items))
    ui = sorted_unique(_ui(h.take(np.flatnonzero(users[h.u])), keys.n_items))
    u, i = ui // keys.n_items, ui % keys.n_items
    return csr_from_sorted(u, i, keys.n_users, keys.n_items)
