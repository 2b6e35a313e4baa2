"""A write-ahead log of posted events: append a batch, fsync, then acknowledge.

Layout of a log folder ``WAL``::

    WAL/wal.json                     {"format_version": 1, "wal_id": "<hex>"}
    WAL/<20-digit start>.seg         segments; a record's position is a byte offset counted
                                     over all segments, so positions only ever grow

A record is a 12-byte header (payload length, CRC-32 of the payload, magic) and a JSON payload
(a list of events). ``append`` returns the position after the record only once the bytes are
on disk (``os.fsync``). A crash mid-append leaves a torn last record (short, or failing its
CRC): it was never acknowledged, so ``open`` cuts it off. Readers name positions at record
boundaries: a checkpoint is "every record before this position is folded".
"""

from __future__ import annotations

import itertools
import json
import os
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shopscale.errors import ShopscaleError
from shopscale.log import get_logger
from shopscale.store.files import write_json

log = get_logger("store.wal")

FORMAT_VERSION = 1
META = "wal.json"
SUFFIX = ".seg"
_HEADER = struct.Struct("<IIi")
_MAGIC = 0x5753  # "SW"


@dataclass(frozen=True)
class Record:
    """One appended batch: where it starts and ends, and its events."""

    start: int
    end: int
    events: list[Any]


class WriteAheadLog:
    """Append-only, fsynced, segmented log of JSON batches (thread-safe appends)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.wal_id = _meta(self.folder)
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        starts = self._starts()
        if not starts:
            starts = [0]
            self._create(0)
        self._start = starts[-1]
        path = self._segment(self._start)
        size = _valid_length(path)
        if size < path.stat().st_size:
            log.warning(
                "%s: cutting a torn last record at byte %d (never acknowledged)", path, size
            )
            with open(path, "r+b") as fh:
                fh.truncate(size)
                os.fsync(fh.fileno())
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self.end = self._start + size
        """The position after the last record written (acknowledged once fsynced)."""
        self._synced = self.end

    @property
    def first(self) -> int:
        """The oldest position still held (earlier segments were dropped after a fold)."""
        return self._starts()[0]

    def append(self, events: list[Any]) -> tuple[int, int]:
        """Append one batch and fsync it; (start, end) positions of the record.

        Group commit: the write happens under the log's lock, the fsync outside it, and one
        fsync makes every record written before it durable, so appends that queued behind a
        slow fsync (a disk busy with someone else's data) share the next one instead of
        paying one each."""
        payload = json.dumps(events, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        data = _HEADER.pack(len(payload), zlib.crc32(payload), _MAGIC) + payload
        with self._lock:
            start = self.end
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            self.end = start + len(data)
        self._sync(start + len(data))
        return start, start + len(data)

    def _sync(self, end: int) -> None:
        """Return once every record up to ``end`` is on disk (fsynced by this call or by
        another one that started after it was written)."""
        with self._sync_lock:
            if self._synced >= end:
                return
            with self._lock:  # the open segment may be rolled meanwhile: fsync a duplicate
                fd, upto = os.dup(self._fd), self.end
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._synced = max(self._synced, upto)

    def roll(self) -> int:
        """Close the current segment (when it holds anything) and start a new one at the
        current end; return that end. A fold reads closed segments only."""
        with self._lock:
            if self.end > self._start:
                os.fsync(self._fd)  # records not yet fsynced by their append: on disk first
                self._create(self.end)
                os.close(self._fd)
                self._start = self.end
                self._fd = os.open(self._segment(self._start), os.O_WRONLY | os.O_APPEND)
            return self.end

    def read(self, start: int, end: int | None = None) -> Iterator[Record]:
        """Every record from position ``start`` (a record boundary) up to ``end``."""
        stop = self.end if end is None else end
        starts = self._starts()
        if start < starts[0]:
            raise ShopscaleError(
                f"{self.folder}: the log no longer holds position {start} (it starts at "
                f"{starts[0]}); the model is older than the log's folded part"
            )
        for seg_start in starts:
            seg_end = seg_start + self._segment(seg_start).stat().st_size
            if seg_end <= start or seg_start >= stop:
                continue
            yield from _records(self._segment(seg_start), seg_start, max(start, seg_start), stop)

    def drop_before(self, position: int) -> None:
        """Delete closed segments that end at or before ``position`` (folded for good)."""
        with self._lock:
            starts = self._starts()
            for seg_start, following in itertools.pairwise(starts):
                if following <= position and seg_start != self._start:
                    self._segment(seg_start).unlink()

    def close(self) -> None:
        """Close the open segment."""
        os.close(self._fd)

    def _starts(self) -> list[int]:
        return sorted(int(p.stem) for p in self.folder.glob(f"*{SUFFIX}") if p.stem.isdigit())

    def _segment(self, start: int) -> Path:
        return self.folder / f"{start:020d}{SUFFIX}"

    def _create(self, start: int) -> None:
        """A new empty segment, its name made durable (fsync of the folder)."""
        fd = os.open(self._segment(start), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.fsync(fd)
        os.close(fd)
        dfd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _meta(folder: Path) -> str:
    """The log's id (created with the folder), its format version checked."""
    path = folder / META
    if not path.exists():
        write_json(path, {"format_version": FORMAT_VERSION, "wal_id": uuid.uuid4().hex})
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        version, wal_id = int(meta["format_version"]), str(meta["wal_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ShopscaleError(f"{path}: unreadable write-ahead log ({exc})") from None
    if version != FORMAT_VERSION:
        raise ShopscaleError(
            f"{path}: write-ahead log format {version}, this shopscale reads {FORMAT_VERSION}"
        )
    return wal_id


def _scan(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(offset, end, payload) of each whole, intact record; stops at the first torn one."""
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc, magic = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        payload = data[pos + _HEADER.size : end]
        if magic != _MAGIC or end > len(data) or zlib.crc32(payload) != crc:
            return
        yield pos, end, payload
        pos = end


def _valid_length(path: Path) -> int:
    """Bytes of a segment up to the end of its last intact record."""
    last = 0
    for _, last, _ in _scan(path.read_bytes()):  # noqa: B007 (the last one counts)
        pass
    return last


def _records(path: Path, base: int, start: int, stop: int) -> Iterator[Record]:
    """Records of one segment whose start lies in [start, stop)."""
    for offset, end, payload in _scan(path.read_bytes()):
        if base + offset >= stop:
            return
        if base + offset >= start:
            yield Record(base + offset, base + end, json.loads(payload))
