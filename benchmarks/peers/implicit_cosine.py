"""implicit peer: ``CosineRecommender(K=50)`` fit, then batch ``recommend`` for every user.

Exclusion is implicit's own ``filter_already_liked_items=True``: every item the user interacted
with (any action) is dropped, since X holds all actions. Padding (id -1) is dropped on output.
"""

from __future__ import annotations

import numpy as np
from _matrix import Interactions, N, TopN, run_peer, stage
from implicit.nearest_neighbours import CosineRecommender

K = 50


def recommend(data: Interactions, timings: dict[str, float]) -> TopN:
    """Fit item-item cosine on X (users x items) and recommend ``N`` items to every user."""
    model = CosineRecommender(K=K)
    with stage(timings, "fit"):
        model.fit(data.seen, show_progress=False)
    users = np.arange(data.seen.shape[0])
    with stage(timings, "recommend"):
        ids, scores = model.recommend(users, data.seen, N=N, filter_already_liked_items=True)
    keep = ids.ravel() >= 0
    return TopN(np.repeat(users, N)[keep], ids.ravel()[keep], scores.ravel()[keep])


if __name__ == "__main__":
    run_peer(recommend)
