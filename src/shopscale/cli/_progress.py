"""The job's progress on screen: a line per stage with its share done, events/s and time left.

Stages are heard of two ways: ``shopscale.log.timed`` says when each starts (``total == 0``:
size unknown, shown with a spinner and its elapsed time), and the engine reports how far a
stage with a known size is (users mapped or ranked, channels reduced). The read stage ends by
reporting the rows it read; later stages turn their share done into events/s from that count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from shopscale.log import STAGE_PROGRESS

READ_STAGE = "read+validate"


def human_rate(per_second: float) -> str:
    """``1234567.0`` -> ``"1.23M"``: a rate short enough for a progress line."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if per_second >= factor:
            return f"{per_second / factor:.3g}{suffix}"
    return f"{per_second:.3g}"


def events_per_second(
    stage: str, completed: float, total: float | None, elapsed: float | None, events: int | None
) -> float | None:
    """Events a stage got through per second so far: its share done times the events read
    (the read stage: the rows it read). None while that is not known yet."""
    if not elapsed or not total:
        return None
    if stage == READ_STAGE:
        return completed / elapsed
    if events is None:
        return None
    return events * (completed / total) / elapsed


class EventsRateColumn(ProgressColumn):
    """``1.23M events/s`` for a stage, or nothing while the rate is not known."""

    def __init__(self, display: StageProgress) -> None:
        super().__init__()
        self.display = display

    def render(self, task: Task) -> Text:
        """The stage's events per second so far."""
        elapsed = task.finished_time if task.finished else task.elapsed
        rate = events_per_second(
            task.description, task.completed, task.total, elapsed, self.display.events
        )
        return Text("" if rate is None else f"{human_rate(rate)} events/s", style="cyan")


class StageProgress:
    """Callable as ``(stage, done, total)``; one line per stage, the previous one completed
    when the next one starts."""

    def __init__(self, console: Console) -> None:
        self.events: int | None = None
        self.tasks: dict[str, TaskID] = {}
        self.current: str | None = None
        self.bar = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("[bold]{task.description:<14}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            EventsRateColumn(self),
            TimeElapsedColumn(),
            TextColumn("elapsed,"),
            TimeRemainingColumn(),
            TextColumn("left"),
            console=console,
            transient=True,
        )

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Start, advance or finish ``stage``."""
        if stage == READ_STAGE and total:
            self.events = total
        if stage not in self.tasks:
            self._finish(self.current)
            self.tasks[stage] = self.bar.add_task(stage, total=total or None)
        self.current = stage
        if total:
            self.bar.update(self.tasks[stage], completed=done, total=total)

    def _finish(self, stage: str | None) -> None:
        """Mark ``stage`` done (a stage of unknown size becomes one unit of one)."""
        if stage is None:
            return
        task = self.bar.tasks[self.tasks[stage]]
        total = task.total or 1
        self.bar.update(self.tasks[stage], completed=total, total=total)
        self.bar.stop_task(self.tasks[stage])


@contextmanager
def stage_progress(console: Console) -> Iterator[StageProgress]:
    """Show the stages of a job while the block runs; every timed step inside is a line."""
    display = StageProgress(console)
    token = STAGE_PROGRESS.set(display)
    try:
        with display.bar:
            yield display
    finally:
        STAGE_PROGRESS.reset(token)
