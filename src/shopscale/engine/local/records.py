"""The exact reader: a file's records as a plain reader sees them, each with its lines.

DuckDB reads files fast; when it cannot split a line of a file, that file is read again here
(Python's ``csv`` with strict quoting, or plain lines for JSON Lines), so that every record is
counted once and names the physical line it starts on; the original text of rejected records is
read back from the file (``texts``). A quote that never closes is an error naming the line it
opens on, not a record that eats the rest of the file. ``locate`` places rows DuckDB read but
rejected, in one pass that also checks it sees the same records.
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, NamedTuple

from shopscale.errors import InputError
from shopscale.events import MAX_FIELD_CHARS, Source

MAX_ROW_CHARS = 10_000
"""Longest original row kept in rejects.csv; a longer one is cut and says how long it was."""
_ESCAPED = re.compile("[\udc80-\udcff]")
NOT_UTF8 = "invalid UTF-8 bytes (another encoding, such as Latin-1?); save the file as UTF-8"


class Record(NamedTuple):
    """One record: its first and last physical line, its original text (JSON Lines; None for
    CSV, whose text is read back only for rejected rows), fields, and why it is bad (if it is)."""

    line: int
    last: int
    text: str | None
    fields: list[str]
    bad: str | None = None


class Unplaced(NamedTuple):
    """A row DuckDB rejected: its ordinal among the file's records, the reason, and what DuckDB
    split (user_id, action, item_id, timestamp, line text) to check it is the same record."""

    ord: int
    reason: str
    values: tuple[str | None, ...]


def shown(text: str) -> str:
    """A row as rejects.csv shows it: valid UTF-8, line ending removed, cut when huge."""
    text = text.rstrip("\r\n")
    if not text.isascii() and _ESCAPED.search(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if len(text) > MAX_ROW_CHARS:
        text = f"{text[:MAX_ROW_CHARS]}... [cut: {len(text):,} characters]"
    return text


def _open(source: Source) -> IO[str]:
    """The file as text: BOM dropped, undecodable bytes kept as escapes to report them."""
    opener = gzip.open if source.compressed else open
    return opener(source.path, "rt", encoding="utf-8-sig", errors="surrogateescape", newline="")


def _csv_records(source: Source, fh: IO[str]) -> Iterator[Record]:
    """Records of a CSV file, blank lines skipped and the header left out.

    Python's reader yields a blank line as its own empty record, so a record starts on the
    line after the previous one ended; after a parse error it goes on at the next line.
    """
    reader = csv.reader(fh, delimiter=source.delimiter, quotechar='"', strict=True)
    header, width, end = source.header, len(source.columns), 0
    while True:
        try:
            for row in reader:
                start, end = end + 1, reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line is not a record
                if header:
                    header = False
                elif len(row) == width:
                    yield Record(start, end, None, row)
                else:
                    yield Record(
                        start, end, None, row, f"expected {width} fields, found {len(row)}"
                    )
            return
        except csv.Error as exc:
            start, end = end + 1, reader.line_num
            yield Record(start, end, None, [], _quote_error(source, exc, start, end))


def _quote_error(source: Source, exc: csv.Error, start: int, end: int) -> str:
    """The reject reason for a record the CSV parser refused; a quote that never closes raises."""
    message = str(exc)
    if "field larger than field limit" in message:
        if end > start:
            raise InputError(
                source.path,
                f"a quote opened on this line does not close within {MAX_FIELD_CHARS:,} characters",
                start,
            )
        return f"field longer than {MAX_FIELD_CHARS:,} characters"
    if "unexpected end of data" in message:
        raise InputError(source.path, "a quote opened on this line never closes", start)
    return f"bad quoting: {message}"


def undecodable(record: Record) -> bool:
    """Whether a record holds bytes that were not UTF-8 (kept as surrogate escapes)."""
    return any(not f.isascii() and _ESCAPED.search(f) for f in record.fields)


def _jsonl_records(fh: IO[str]) -> Iterator[Record]:
    """Records of a JSON Lines file: every non-blank line, JSON parsed later by DuckDB."""
    for number, text in enumerate(fh, start=1):
        if not text.strip():
            continue
        escaped = not text.isascii() and _ESCAPED.search(text)
        yield Record(number, number, shown(text), [], NOT_UTF8 if escaped else None)


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


def locate(
    source: Source, count: int, rows: list[Unplaced], structural: set[int]
) -> list[tuple[int, str, str]] | None:
    """Line, reason and original text of each row DuckDB rejected, by one fast pass.

    ``rows`` are the rows DuckDB split but that break a rule; ``structural`` the lines DuckDB
    could not split into the file's columns. None when this pass does not see the records DuckDB
    saw (another count, another split, bad quoting): the caller then reads the file exactly.
    """
    wanted = {u.ord: u for u in rows}
    found = _spans(source, count, wanted, structural)
    if found is None:
        return None
    spans, bad = found
    items = [(start, end, wanted[n].reason) for n, (start, end) in spans.items()] + bad
    text = texts(source, {k: (start, end) for k, (start, end, _) in enumerate(items)})
    return sorted((start, reason, text[start]) for start, _, reason in items)


def _spans(
    source: Source, count: int, wanted: dict[int, Unplaced], structural: set[int]
) -> tuple[dict[int, tuple[int, int]], list[tuple[int, int, str]]] | None:
    """Lines of the wanted records (by ordinal among well-formed ones) and of the records with
    the wrong number of fields; None when they are not what DuckDB saw."""
    index = {name: k for k, name in enumerate(source.columns)}
    spans: dict[int, tuple[int, int]] = {}
    bad: list[tuple[int, int, str]] = []
    n, header, width = -1, source.header and source.format == "csv", len(source.columns)
    try:
        with _open(source) as fh:
            if source.format == "jsonl":
                rows: Iterable[list[str]] = ([line] for line in fh)
            else:
                rows = reader = csv.reader(fh, delimiter=source.delimiter, strict=True)
            for number, row in enumerate(rows, start=1):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if header:
                    header = False
                    continue
                if source.format == "jsonl":
                    first = last = number
                else:
                    first, last = reader.line_num - sum(map(_breaks, row)), reader.line_num
                if source.format == "csv" and len(row) != width:
                    bad.append((first, last, f"expected {width} fields, found {len(row)}"))
                    continue
                n += 1
                if n in wanted:
                    if not _same(source, row, wanted[n].values, index):
                        return None
                    spans[n] = (first, last)
    except (csv.Error, OSError, EOFError, zlib.error):
        return None
    same = n + 1 == count and len(spans) == len(wanted) and {b[0] for b in bad} == structural
    return (spans, bad) if same else None


def _breaks(field: str) -> int:
    """Line breaks inside a field (``\\r\\n`` counts once, as the file's line splitting does)."""
    if "\n" not in field and "\r" not in field:
        return 0
    return field.count("\n") + field.count("\r") - field.count("\r\n")


def texts(source: Source, spans: dict[int, tuple[int, int]]) -> dict[int, str]:
    """Original text of each span, keyed by its first line."""
    ends = dict(spans.values())
    found: dict[int, str] = {}
    with _open(source) as fh:
        current: list[str] = []
        first = 0
        last = max(ends.values(), default=0)
        for number, line in enumerate(fh, start=1):
            if number > last:
                break
            if number in ends:
                first, current = number, []
            if first:
                current.append(line)
                if number == ends[first]:
                    found[first] = shown("".join(current))
                    first = 0
    return found


def _same(
    source: Source, row: list[str], values: tuple[str | None, ...], index: dict[str, int]
) -> bool:
    """Whether DuckDB's split of a row is the one this reader sees."""
    if source.format == "jsonl":
        return shown(row[0]) == shown(values[4] or "")
    names = ("user_id", "action", "item_id", "timestamp")
    mine = [row[index[c]] if c in index and index[c] < len(row) else None for c in names]
    return len(row) == len(source.columns) and all(
        (a or "") == (b or "") for a, b in zip(mine, values[:4], strict=True)
    )
