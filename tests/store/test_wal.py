"""The write-ahead log keeps every acknowledged batch, in order, across reopenings; a torn
last record (a crash mid-append) is cut off; folded segments can be dropped."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from shopscale.errors import ShopscaleError
from shopscale.store.wal import WriteAheadLog


def _events(wal: WriteAheadLog, start: int = 0) -> list[list[object]]:
    return [r.events for r in wal.read(start)]


def test_appends_survive_reopening_in_order(tmp_path: Path) -> None:
    """Batches read back in append order, with positions that chain, after a reopen."""
    wal = WriteAheadLog(tmp_path)
    spans = [wal.append([["u1", "viewed", "i1", 5]]), wal.append([["ü", "a", "i", None]] * 2)]
    wal.close()
    again = WriteAheadLog(tmp_path)
    assert again.wal_id == wal.wal_id
    records = list(again.read(0))
    assert [(r.start, r.end) for r in records] == spans
    assert spans[0][0] == 0 and spans[0][1] == spans[1][0] and again.end == spans[1][1]
    assert records[1].events == [["ü", "a", "i", None]] * 2
    assert _events(again, spans[1][0]) == [records[1].events]


@pytest.mark.parametrize("cut", [1, 5, 13, -1])
def test_a_torn_last_record_is_cut_off(tmp_path: Path, cut: int) -> None:
    """A last record cut short (or with a flipped byte) is dropped on open; the records
    before it stay, and the next append follows them."""
    wal = WriteAheadLog(tmp_path)
    _, first_end = wal.append([["u1", "viewed", "i1", 5]])
    wal.append([["u2", "viewed", "i2", 6]])
    wal.close()
    segment = next(tmp_path.glob("*.seg"))
    data = segment.read_bytes()
    if cut > 0:
        segment.write_bytes(data[: first_end + cut])
    else:  # same length, one payload byte changed: the CRC no longer matches
        segment.write_bytes(data[:-2] + bytes([data[-2] ^ 1]) + data[-1:])
    again = WriteAheadLog(tmp_path)
    assert _events(again) == [[["u1", "viewed", "i1", 5]]]
    assert segment.stat().st_size == first_end
    again.append([["u3", "viewed", "i3", 7]])
    assert _events(WriteAheadLog(tmp_path)) == [
        [["u1", "viewed", "i1", 5]],
        [["u3", "viewed", "i3", 7]],
    ]


def test_roll_and_drop(tmp_path: Path) -> None:
    """Rolling starts a new segment at the end; dropping removes only segments wholly
    before a position, and reading before what is kept is refused in one line."""
    wal = WriteAheadLog(tmp_path)
    wal.append([["a"]])
    upto = wal.roll()
    assert wal.roll() == upto  # nothing new: no empty segment
    wal.append([["b"]])
    wal.drop_before(upto)
    assert wal.first == upto
    assert _events(wal, upto) == [[["b"]]]
    with pytest.raises(ShopscaleError, match="no longer holds position 0"):
        list(wal.read(0))
    assert len(os.listdir(tmp_path)) == 2  # wal.json and one segment


def test_appends_waiting_on_a_slow_fsync_share_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: appends that queued behind an fsync in progress are made durable by
    one fsync, not one each, and each gets its own span; a roll meanwhile loses none."""
    wal = WriteAheadLog(tmp_path)
    wal.append([["u0", "viewed", "i0", 1]])
    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    spans: list[tuple[int, int]] = []
    n = 8
    with wal._sync_lock:  # an fsync "in progress": every appender writes, then waits here
        threads = [
            threading.Thread(target=lambda k=k: spans.append(wal.append([[f"u{k}", "a", "i", k]])))
            for k in range(1, n + 1)
        ]
        for t in threads:
            t.start()
        while len(list(wal.read(0))) < n + 1:  # all written (not yet acknowledged)
            time.sleep(0.01)
        assert not spans
    for t in threads:
        t.join()
    assert len(calls) == 1  # one fsync covered the eight records
    assert sorted(spans) == [(r.start, r.end) for r in wal.read(0)][1:]
    wal.roll()  # the segment closes with every record in it
    wal.close()
    again = WriteAheadLog(tmp_path)
    assert sorted(e[0][0] for e in _events(again)) == sorted(f"u{k}" for k in range(n + 1))
