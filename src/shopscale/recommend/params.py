"""Parameters of the recommendation model, loaded from the ``[recommend]`` TOML section."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from shopscale.config import check_fields

Similarity = Literal["llr", "cosine", "jaccard", "count", "lift"]
Exclude = Literal["primary", "any", "none"]
Vote = Literal["llr", "geometric", "conditional"]
Repeats = Literal["once", "count"]
VOTES: tuple[str, ...] = get_args(Vote)
DECAYS: tuple[str, ...] = ("half_life_days", "half_life_events")
"""Settings that need real timestamps: without them (times are file order) they are off."""
MAX_LIST = 10_000
"""Largest ``n`` and ``max_similar_per_item``: engines hold that many slots per row."""
MAX_WEIGHT = 1e12
"""Largest weight: larger ones overflow a user's summed score to inf."""


@dataclass(frozen=True)
class RecommendParams:
    """The model: cross-occurrence LLR by default, or a classic single-matrix similarity."""

    primary: str = "purchased"
    """The action we recommend for (what the shop wants users to do next)."""
    indicators: tuple[str, ...] = ()
    """Actions whose history predicts the primary one; empty means every action seen."""
    weights: dict[str, float] = field(default_factory=dict)
    """Weight of each indicator action in a user's score (default 1 each)."""
    similarity: Similarity = "llr"
    max_items_per_user: int = 500
    """Downsampling: per user and action keep this many most recent distinct items."""
    max_similar_per_item: int = 50
    vote: Vote = "geometric"
    """What a kept indicator pair (i, j) votes with in a user's score. LLR selects the pairs
    either way; ``llr`` votes with the LLR, ``conditional`` with P(i | j) = k11 / n(j), and
    ``geometric`` (the default, chosen on validation splits) with sqrt(LLR * P(i | j)). LLR
    mode only (classic similarities vote with themselves); ``similar_items`` always shows the
    LLR. See docs/evaluation.md ("Geometric vote adopted")."""
    n: int = 10
    """Length of every user's list."""
    half_life_days: float | None = 30.0
    """Time decay of a user's history: an event this old counts half; 0 or None = no decay.
    Applied only when every input file has real timestamps (file order is not time)."""
    half_life_events: float | None = 20.0
    """Sequence decay: an entry of a user's history counts half for every this many of the
    user's history entries (any indicator action) that are newer; 0 or None = none. Like
    time decay, applied only with real timestamps. Both decays multiply."""
    exclude: Exclude = "primary"
    """Items never recommended to a user: those they did the primary action on, any, or none."""
    self_weight: float = 1e6
    """Weight of a user's own unpurchased engagement: an item the user viewed or carted votes
    for itself with ``self_weight`` times that action's smoothed conversion rate on the item.
    0 gives pure cross-occurrence. LLR mode only (see docs/evaluation.md for the evidence)."""
    repeats: Repeats = "count"
    """How often a user's own engagement counts: ``count``, its number of events (an item
    viewed five times votes for itself five times as much as one viewed once; only its self
    vote: what the user is recommended beyond their own items is unchanged), or ``once`` per
    (action, item). LLR mode with self votes only. Default since 2026-12-04, chosen on
    validation splits (docs/evaluation.md, "Repeated engagement on the self votes only")."""
    self_prior: float = 100.0
    """Pseudo-count pulling an item's conversion rate to the action's overall rate."""
    unprompted_weight: float = 0.0
    """Weight of the unprompted-purchase prior: items bought by users who never viewed or
    carted them (any other indicator action) far more often than the log's average, such as
    add-ons and checkout items, start every user's score at ``unprompted_weight`` times their
    excess unprompted buyers per user (``ranking.unprompted_prior``; at most
    ``max_similar_per_item`` items). 0 (the default) turns it off; a log without such items is
    unaffected. Off by default since 2026-12-01: found on RetailRocket, it cost every figure
    of Last.fm's validation splits at 1e3 and 1e5 (docs/evaluation.md, "The unprompted prior
    re-checked"); ``shopscale tune`` still searches 1e3 / 1e4 / 1e5. LLR mode only."""
    backfill: bool = True
    """Fill lists shorter than n with the most popular items (marked ``backfill``)."""
    users_per_shard: int = 100_000
    """Users processed together; bounds memory of the map and rank stages."""

    def __post_init__(self) -> None:
        check_fields(self)  # types, Literal choices, finite floats, 64-bit ints
        for name in ("max_items_per_user", "max_similar_per_item", "n", "users_per_shard"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("n", "max_similar_per_item"):
            if getattr(self, name) > MAX_LIST:
                raise ValueError(f"{name} must be at most {MAX_LIST:,}, got {getattr(self, name)}")
        weights = {"self_weight": self.self_weight, "unprompted_weight": self.unprompted_weight}
        weights.update({f"weights.{action}": w for action, w in self.weights.items()})
        for name, w in weights.items():
            if not 0 <= w <= MAX_WEIGHT:
                raise ValueError(f"{name} must be in [0, {MAX_WEIGHT:g}], got {w}")
        for name in ("self_prior", *DECAYS):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        if not self.primary:
            raise ValueError("primary action must not be empty")

    def weight(self, action: str) -> float:
        """The weight of an indicator action (1 unless configured)."""
        return float(self.weights.get(action, 1.0))
