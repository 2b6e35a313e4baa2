"""Evaluation fixtures: a small fixed shop log with a view -> cart -> purchase funnel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopscale.evaluate.data import Interactions, from_arrays
from tests.cli.conftest import shopscale  # the CLI runner fixture, shared

__all__ = ["shopscale"]

N_USERS, N_ITEMS, N_GROUPS = 300, 90, 6
T0 = 1_700_000_000


def shop_rows(seed: int = 3) -> list[tuple[str, str, str, int]]:
    """Users browse mostly one of 6 categories; a third of views carted, 60% of carts bought."""
    rng = np.random.default_rng(seed)
    size = N_ITEMS // N_GROUPS
    rows = []
    for u in range(N_USERS):
        group = int(rng.integers(0, N_GROUPS))
        t = T0 + int(rng.integers(0, 5 * 86_400))
        for _ in range(int(rng.integers(6, 18))):
            local = rng.random() < 0.85
            item = (
                group * size + int(rng.zipf(1.6) - 1) % size
                if local
                else int(rng.integers(0, N_ITEMS))
            )
            t += int(rng.integers(60, 86_400))
            rows.append((f"u{u:03d}", "viewed", f"i{item:03d}", t))
            if rng.random() < 0.35:
                t += int(rng.integers(60, 3_600))
                rows.append((f"u{u:03d}", "carted", f"i{item:03d}", t))
                if rng.random() < 0.6:
                    t += int(rng.integers(60, 86_400))
                    rows.append((f"u{u:03d}", "purchased", f"i{item:03d}", t))
    return rows


@pytest.fixture(scope="session")
def shop() -> Interactions:
    """The fixed shop log, encoded (about 3,000 events)."""
    return from_arrays(shop_rows())


@pytest.fixture
def shop_csv(tmp_path: Path) -> Path:
    """The fixed shop log as a CSV file with a header and timestamps."""
    path = tmp_path / "events.csv"
    lines = ["user_id,action,item_id,timestamp", *(",".join(map(str, r)) for r in shop_rows())]
    path.write_text("\n".join(lines) + "\n")
    return path
