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
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


MAX_POSTED_ID_LENGTH = 256
"""Longest user_id, item_id or action a posted event may carry, in characters."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_WHOLE = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
PostedEvent = tuple[str, str, str, int | None]
"""A valid posted event: user_id, action (trimmed, before renaming), item_id, t or None."""


def check_event(
    record: object, params: EventsParams, *, timed: bool
) -> tuple[PostedEvent | None, str | None]:
    """One posted event (a decoded JSON value) checked by the rules a file row meets: the
    event, or None and the reason (the reader's wording). Stricter than a file where a file
    would guess: an id must be a JSON string or integer. ``timed``: the event must carry a
    timestamp (else it must not: the model's times are file order)."""
    if not isinstance(record, dict):
        return None, "JSON line is not an object"
    names = {
        "user_id": params.user_column,
        "item_id": params.item_column,
        "action": params.action_column,
    }
    ids: dict[str, str] = {}
    for name, key in names.items():
        value, reason = _posted_id(name, record.get(key))
        if reason is not None:
            return None, reason
        ids[name] = value
    action = params.rename_actions.get(ids["action"], ids["action"])
    if params.actions and action not in params.actions:
        return None, f"unknown action {_shown(action)}"
    raw = record.get(params.timestamp_column)
    if not timed:
        if raw is not None:
            return None, "the model's times are file order: events carry no timestamp"
        return (ids["user_id"], ids["action"], ids["item_id"], None), None
    t, reason = _posted_time(raw)
    if reason is None:
        t, reason = _in_range(t, raw)
    if reason is not None:
        return None, reason
    return (ids["user_id"], ids["action"], ids["item_id"], t), None


def _shown(value: str) -> str:
    """A value in quotes, cut after 40 characters."""
    return "'" + value[:40] + ("..." if len(value) > 40 else "") + "'"


def _posted_id(name: str, value: object) -> tuple[str, str | None]:
    """A posted id as text (trimmed), or the reason it is no id."""
    if isinstance(value, bool | dict | list | float):
        kind = {bool: "boolean", dict: "object", list: "array", float: "number"}[type(value)]
        return "", f"{name} is a JSON {kind}, not an id"
    text = "" if value is None else str(value).strip()
    if not text:
        return "", f"empty {name}"
    found = _CONTROL.search(text)
    if found:
        return "", f"{name} contains control character U+{ord(found.group()):04X}"
    if len(text) > MAX_POSTED_ID_LENGTH:
        return "", f"{name} is {len(text)} characters long (at most {MAX_POSTED_ID_LENGTH})"
    return text, None


def _posted_time(raw: object) -> tuple[int, str | None]:
    """Epoch seconds of a posted timestamp (whole, fractional floored, or ISO-8601 text)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return 0, "empty timestamp"
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw, None
    if isinstance(raw, float) and math.isfinite(raw):
        return math.floor(raw), None
    text = raw.strip() if isinstance(raw, str) else ""
    if _WHOLE.fullmatch(text):
        return int(text), None
    if _NUMBER.fullmatch(text) and math.isfinite(float(text)):
        return math.floor(float(text)), None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        when = None
    if when is None:
        return 0, f"unparsable timestamp {_shown(str(raw))}"
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()), None


def _in_range(t: int, raw: object) -> tuple[int, str | None]:
    """A time that fits the engines' 64-bit integers, or the reason it does not."""
    if -(2**63) <= t < 2**63:
        return t, None
    return 0, f"timestamp {_shown(str(raw))} is out of range"
