"""Event schema, input discovery and format sniffing.

An event is ``user_id, action, item_id, timestamp``. Ids and actions are strings; the timestamp
is epoch seconds or ISO-8601, or absent (the classic three-column ``user_id,action,item_id``
format with no header), in which case file order is time order.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shopscale.errors import InputError

EVENT_COLUMNS = ("user_id", "action", "item_id", "timestamp")
Format = Literal["csv", "jsonl", "parquet"]
_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".dat": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class EventsParams:
    """How to read events: column names, action vocabulary, and how much bad input to accept."""

    user_column: str = "user_id"
    action_column: str = "action"
    item_column: str = "item_id"
    timestamp_column: str = "timestamp"
    delimiter: str = ","
    actions: tuple[str, ...] = ()
    """Allowed action names after renaming; empty means every action seen is accepted."""
    rename_actions: dict[str, str] = field(default_factory=dict)
    """Raw action name -> canonical name, e.g. ``{pv = "viewed", buy = "purchased"}``."""
    max_reject_ratio: float = 0.01

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_reject_ratio <= 1.0:
            raise ValueError(f"max_reject_ratio must be in [0, 1], got {self.max_reject_ratio}")
        if len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {self.delimiter!r}")
        names = [self.user_column, self.action_column, self.item_column, self.timestamp_column]
        if len(set(names)) != len(names):
            raise ValueError(f"column names must differ, got {names}")


@dataclass(frozen=True)
class Source:
    """One input file with its detected format and, for CSV, its layout."""

    path: Path
    format: Format
    header: bool = False
    columns: tuple[str, ...] = ()
    """CSV: every column of the file in order (from the header, or the plain layout)."""
    compressed: bool = False
    delimiter: str = ","
    timestamped: bool = True
    """Whether rows carry their own timestamp; if not, file order is time order."""

    @property
    def has_timestamp(self) -> bool:
        """Whether rows carry their own timestamp (else file order is time order)."""
        if self.format == "csv":
            return "timestamp" in self.columns
        return self.timestamped


def detect_format(path: Path) -> tuple[Format, bool]:
    """Format and gzip flag from a file name such as ``events.csv.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if compressed:
        suffixes = suffixes[:-1]
    fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InputError(
            path, "unknown file type (expected .csv, .jsonl or .parquet, optionally .gz)"
        )
    if compressed and fmt == "parquet":
        raise InputError(path, "a gzip-compressed Parquet file is not supported")
    return fmt, compressed


def resolve_inputs(spec: str | Path | Sequence[str | Path]) -> list[Path]:
    """Expand a file, a folder or a glob (or a list of them) into sorted files."""
    specs = [spec] if isinstance(spec, str | Path) else list(spec)
    found: list[Path] = []
    for one in specs:
        p = Path(one)
        if p.is_dir():
            files = sorted(
                f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_"))
            )
            if not files:
                raise InputError(p, "folder has no input files")
            found.extend(files)
        elif p.is_file():
            found.append(p)
        elif any(ch in str(one) for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(one), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise InputError(str(one), "no file matches this pattern")
            found.extend(files)
        else:
            raise InputError(p, "no such file or folder")
    return found


def _first_line(path: Path, compressed: bool) -> str | None:
    """The first non-blank line of a text file, or None when the file has none."""
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            for line in fh:
                if line.strip():
                    return line.rstrip("\r\n")
    except (OSError, EOFError) as exc:
        raise InputError(path, f"cannot read file: {exc}") from None
    return None


def _parquet_has(path: Path, column: str) -> bool:
    """Whether a Parquet file has the column (its schema says so)."""
    import pyarrow.parquet as pq

    try:
        return column in pq.read_schema(path).names
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read Parquet: {exc}") from None


def _jsonl_has(path: Path, compressed: bool, params: EventsParams) -> bool:
    """Whether the first JSON object of a JSON Lines file has the timestamp key.

    A file whose first record has no timestamp is read in file order, like the plain CSV;
    otherwise a record without one is rejected.
    """
    line = _first_line(path, compressed)
    if line is None:
        raise InputError(path, "file has no rows")
    try:
        first = json.loads(line)
    except ValueError:
        return True  # the reader rejects the line itself, with its number
    return not isinstance(first, dict) or params.timestamp_column in first


def sniff(path: Path, params: EventsParams) -> Source:
    """Detect format and CSV layout: a header naming our columns, or headerless 3/4 columns."""
    fmt, compressed = detect_format(path)
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    if fmt == "parquet":
        return Source(path, fmt, timestamped=_parquet_has(path, params.timestamp_column))
    if fmt == "jsonl":
        return Source(
            path, fmt, compressed=compressed, timestamped=_jsonl_has(path, compressed, params)
        )
    line = _first_line(path, compressed)
    if line is None:
        raise InputError(path, "file has no rows")
    delim = params.delimiter
    if delim == "," and ".tsv" in [s.lower() for s in path.suffixes]:
        delim = "\t"
    fields = [f.strip() for f in next(csv.reader(io.StringIO(line), delimiter=delim))]
    wanted = {
        params.user_column: "user_id",
        params.action_column: "action",
        params.item_column: "item_id",
        params.timestamp_column: "timestamp",
    }
    if any(f in wanted for f in fields):
        missing = [
            name
            for name in (params.user_column, params.action_column, params.item_column)
            if name not in fields
        ]
        if missing:
            raise InputError(
                path, f"header lacks column(s) {', '.join(missing)} (found: {', '.join(fields)})", 1
            )
        columns = tuple(wanted.get(f, f"_extra{n}") for n, f in enumerate(fields))
        return Source(path, "csv", True, columns, compressed, delim)
    if len(fields) == 3:
        return Source(path, "csv", False, EVENT_COLUMNS[:3], compressed, delim)
    if len(fields) == 4:
        return Source(path, "csv", False, EVENT_COLUMNS, compressed, delim)
    raise InputError(
        path,
        f"cannot tell the layout: no header naming {params.user_column}/{params.action_column}/"
        f"{params.item_column}, and {len(fields)} columns where a headerless file has 3 "
        "(user_id,action,item_id) or 4 (…,timestamp)",
        1,
    )


def record_lines(source: Source, ordinals: Sequence[int], skip_lines: set[int]) -> dict[int, int]:
    """Physical line numbers of the given 0-based data-record ordinals of a text file.

    The engine numbers the records it parsed; this walks the file once with the same rules
    (blank lines skipped, header and structurally rejected lines not counted) to name lines.
    """
    wanted = sorted(set(ordinals))
    if not wanted:
        return {}
    opener = gzip.open if source.compressed else open
    result: dict[int, int] = {}
    pos = 0
    ordinal = -1
    header_pending = source.header
    with opener(source.path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        if source.format == "csv":
            rows = csv.reader(fh, delimiter=source.delimiter)
            for row in rows:
                line = rows.line_num
                if not row or line in skip_lines:
                    continue
                if header_pending:
                    header_pending = False
                    continue
                ordinal += 1
                if ordinal == wanted[pos]:
                    result[ordinal] = line
                    pos += 1
                    if pos == len(wanted):
                        break
        else:
            for line, text in enumerate(fh, start=1):
                if not text.strip() or line in skip_lines:
                    continue
                ordinal += 1
                if ordinal == wanted[pos]:
                    result[ordinal] = line
                    pos += 1
                    if pos == len(wanted):
                        break
    return result
