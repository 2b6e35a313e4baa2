"""Plain SciPy peer: S = X^T X (diagonal zeroed, top-50 per row), R = X S, drop purchases, top-10.

S is built in item blocks and R in user blocks, so neither X^T X nor X S is ever whole in memory.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from _matrix import Interactions, TopN, run_peer, stage, top_k_per_row, top_n_lists

K = 50  # neighbours kept per item
ITEM_BLOCK = 5_000
USER_BLOCK = 50_000


def similar_items(x: sp.csr_matrix) -> sp.csr_matrix:
    """Item x item co-occurrence counts, diagonal zeroed, ``K`` largest per row."""
    xt = x.T.tocsr()
    blocks = []
    for lo in range(0, xt.shape[0], ITEM_BLOCK):
        block = (xt[lo : lo + ITEM_BLOCK] @ x).tocoo()
        off_diagonal = block.row + lo != block.col
        block = sp.csr_matrix(
            (block.data[off_diagonal], (block.row[off_diagonal], block.col[off_diagonal])),
            shape=block.shape,
        )
        blocks.append(top_k_per_row(block, K))
    return sp.vstack(blocks, format="csr")


def recommend(data: Interactions, timings: dict[str, float]) -> TopN:
    """Top-10 per user from item co-occurrence, never an item the user purchased."""
    with stage(timings, "fit"):
        sim = similar_items(data.seen)
    parts = []
    with stage(timings, "recommend"):
        for lo in range(0, data.seen.shape[0], USER_BLOCK):
            scores = data.seen[lo : lo + USER_BLOCK] @ sim
            bought = data.purchased[lo : lo + USER_BLOCK]
            scores = scores - scores.multiply(bought)
            parts.append(top_n_lists(scores, lo))
    return TopN(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in ("user", "item", "score"))
    )


if __name__ == "__main__":
    run_peer(recommend)
