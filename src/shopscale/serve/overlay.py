"""Posted events not folded yet, per user: merged into the user's history at request time."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from shopscale.serve.score import Posted


@dataclass
class Overlay:
    """Acknowledged events past the model's checkpoint, by user, in log order."""

    by_user: dict[str, list[tuple[int, Posted]]] = field(default_factory=lambda: defaultdict(list))
    """user_id -> (start position of the event's log record, (action, item_id, t))."""
    size: int = 0
    max_t: int | None = None

    def add(self, start: int, events: list[tuple[str, str, str, int]]) -> None:
        """Add one log record's events (user_id, canonical action, item_id, t)."""
        for user, action, item, t in events:
            self.by_user[user].append((start, (action, item, t)))
            self.max_t = t if self.max_t is None else max(self.max_t, t)
        self.size += len(events)

    def posted(self, user_id: str) -> list[Posted]:
        """The user's unfolded events, oldest first."""
        return [event for _, event in self.by_user.get(user_id, ())]

    def prune(self, checkpoint: int) -> None:
        """Forget the events of records before ``checkpoint`` (the model holds them now)."""
        kept: dict[str, list[tuple[int, Posted]]] = defaultdict(list)
        size, max_t = 0, None
        for user, rows in self.by_user.items():
            mine = [row for row in rows if row[0] >= checkpoint]
            if mine:
                kept[user] = mine
                size += len(mine)
                latest = max(event[2] for _, event in mine)
                max_t = latest if max_t is None else max(max_t, latest)
        self.by_user, self.size, self.max_t = kept, size, max_t
