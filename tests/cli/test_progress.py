"""The stage display: events/s from the rows read, stages completed as the next starts."""

from __future__ import annotations

import io

from rich.console import Console

from shopscale.cli._progress import StageProgress, events_per_second, human_rate, stage_progress
from shopscale.log import STAGE_PROGRESS, get_logger, timed


def test_human_rate_is_short_and_keeps_three_digits() -> None:
    """Rates print with three significant digits and a k/M/G suffix."""
    assert human_rate(950.0) == "950"
    assert human_rate(1234.0) == "1.23k"
    assert human_rate(1_250_000.0) == "1.25M"
    assert human_rate(3.2e9) == "3.2G"


def test_stages_turn_their_share_into_events_per_second() -> None:
    """After the read reports its rows, a stage half done turns into half the events over
    its elapsed time; a stage starting completes the one before."""
    display = StageProgress(Console(file=io.StringIO()))
    display("read+validate", 0, 0)
    display("read+validate", 1_000, 1_000)
    assert display.events == 1_000
    display("map", 0, 0)
    display("map", 5, 10)
    read = display.bar.tasks[display.tasks["read+validate"]]
    assert read.finished and read.completed == 1_000
    mapped = display.bar.tasks[display.tasks["map"]]
    assert not mapped.finished and (mapped.completed, mapped.total) == (5, 10)


def test_rates_are_events_over_seconds() -> None:
    """The read stage's rate is rows over seconds; a later stage's is its share of the
    events read over seconds; unknown sizes and times give no rate."""
    assert events_per_second("read+validate", 1_000, 1_000, 2.0, None) == 500.0
    assert events_per_second("map", 5, 10, 2.0, 1_000) == 250.0
    assert events_per_second("map", 5, 10, 2.0, None) is None
    assert events_per_second("encode", 0, None, 2.0, 1_000) is None
    assert events_per_second("map", 5, 10, None, 1_000) is None


def test_timed_steps_start_a_line_only_while_a_display_listens() -> None:
    """``timed`` announces each step to the display inside ``stage_progress`` and to nobody
    outside it."""
    log = get_logger("test")
    with stage_progress(Console(file=io.StringIO())) as display:
        with timed(log, "encode"):
            pass
        assert list(display.tasks) == ["encode"]
    assert STAGE_PROGRESS.get() is None
