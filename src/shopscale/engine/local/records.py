"""The exact reader: a file's records as a plain reader sees them, each with its line and text.

DuckDB reads clean files fast; when it reports any problem in a file, that file is read again
here, record by record, so that every record is counted once, names the physical line it starts
on and keeps its original text for ``rejects.csv``. A quote that never closes is an error naming
the line it opens on, not a record that eats the rest of the file.
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from shopscale.errors import InputError
from shopscale.events import MAX_FIELD_CHARS, Source

MAX_ROW_CHARS = 10_000
"""Longest original row kept in rejects.csv; a longer one is cut and says how long it was."""
_ESCAPED = re.compile("[\udc80-\udcff]")
NOT_UTF8 = "invalid UTF-8 bytes (another encoding, such as Latin-1?); save the file as UTF-8"


@dataclass(frozen=True)
class Record:
    """One record: its first physical line, original text, fields, and why it is bad (if it is)."""

    line: int
    text: str
    fields: list[str]
    bad: str | None = None


def shown(text: str) -> str:
    """A row as rejects.csv shows it: valid UTF-8, line ending removed, cut when huge."""
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    if _ESCAPED.search(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if len(text) > MAX_ROW_CHARS:
        text = f"{text[:MAX_ROW_CHARS]}... [cut: {len(text):,} characters]"
    return text


class _Lines:
    """Iterate a file's lines while keeping the ones the CSV parser took for the current record."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh
        self.taken: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._fh)
        self.taken.append(line)
        return line

    def take(self) -> list[str]:
        """The lines of the record just parsed (and forget them)."""
        lines, self.taken = self.taken, []
        return lines


def _open(source: Source) -> IO[str]:
    """The file as text: BOM dropped, undecodable bytes kept as escapes to report them."""
    opener = gzip.open if source.compressed else open
    return opener(source.path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="")


def _csv_records(source: Source, fh: IO[str]) -> Iterator[Record]:
    """Records of a CSV file, blank lines skipped and the header left out."""
    lines = _Lines(fh)
    reader = csv.reader(lines, delimiter=source.delimiter, quotechar='"', strict=True)
    start, header, width = 1, source.header, len(source.columns)
    while True:
        try:
            row = next(reader)
            bad = None
        except StopIteration:
            return
        except csv.Error as exc:
            row, bad = [], _quote_error(source, exc, start, lines.taken)
        taken = lines.take()
        text = "".join(taken)
        if bad is None and not text.strip():
            pass  # a blank line is not a record
        elif header:
            header = False
        else:
            if bad is None and _ESCAPED.search(text):
                bad = NOT_UTF8
            elif bad is None and len(row) != width:
                bad = f"expected {width} fields, found {len(row)}"
            yield Record(start, shown(text), row, bad)
        start += len(taken)


def _quote_error(source: Source, exc: csv.Error, start: int, taken: list[str]) -> str:
    """The reject reason for a record the CSV parser refused; a quote that never closes raises."""
    message = str(exc)
    if "field larger than field limit" in message:
        if len(taken) > 1:
            raise InputError(
                source.path,
                f"a quote opened on this line does not close within {MAX_FIELD_CHARS:,} characters",
                start,
            )
        return f"field longer than {MAX_FIELD_CHARS:,} characters"
    if "unexpected end of data" in message:
        raise InputError(source.path, "a quote opened on this line never closes", start)
    return f"bad quoting: {message}"


def _jsonl_records(fh: IO[str]) -> Iterator[Record]:
    """Records of a JSON Lines file: every non-blank line, JSON parsed later by DuckDB."""
    for number, text in enumerate(fh, start=1):
        if not text.strip():
            continue
        yield Record(number, shown(text), [], NOT_UTF8 if _ESCAPED.search(text) else None)


def read_records(source: Source) -> Iterable[Record]:
    """Every record of a CSV or JSON Lines file; an unreadable file is one InputError."""
    old_limit = csv.field_size_limit(MAX_FIELD_CHARS)
    records: Iterator[Record] | None = None
    try:
        with _open(source) as fh:
            records = _csv_records(source, fh) if source.format == "csv" else _jsonl_records(fh)
            yield from records
    except (OSError, EOFError, zlib.error) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(source.path, f"cannot read file: {text}") from None
    finally:
        csv.field_size_limit(old_limit)
