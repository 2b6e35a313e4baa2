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
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from shopscale.config import check_fields
from shopscale.errors import InputError
from shopscale.log import get_logger
from shopscale.uris import is_uri, local_file

log = get_logger("events")

EVENT_COLUMNS = ("user_id", "action", "item_id", "timestamp")
MAX_ID_LENGTH = 256
"""Longest user_id, item_id or action accepted, in characters (longer ones are rejected)."""
MAX_FIELD_CHARS = 1_000_000
"""Longest CSV field read; a quoted field that grows past it over several lines is a quote that
never closes."""
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
SEPARATORS = (",", "\t", ";", "|")
"""Separators tried, after the configured one, when a CSV's first line does not split."""
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
    min_time: str = "1990-01-01"
    """Earliest plausible event time (ISO-8601, UTC unless it says otherwise)."""
    max_future_days: float = 1.0
    """Latest plausible event time, in days after the moment the run reads the file."""

    def __post_init__(self) -> None:
        check_fields(self)  # types, Literal choices, finite floats, 64-bit ints
        if not 0.0 <= self.max_reject_ratio <= 1.0:
            raise ValueError(f"max_reject_ratio must be in [0, 1], got {self.max_reject_ratio}")
        if len(self.delimiter) != 1:
            raise ValueError(f"delimiter must be one character, got {self.delimiter!r}")
        names = [self.user_column, self.action_column, self.item_column, self.timestamp_column]
        if len(set(names)) != len(names):
            raise ValueError(f"column names must differ, got {names}")
        if not math.isfinite(self.max_future_days) or self.max_future_days < 0:
            raise ValueError(f"max_future_days must be >= 0, got {self.max_future_days}")
        self.time_bounds(0.0)  # min_time must parse

    def time_bounds(self, now: float) -> tuple[int, int]:
        """Plausible event times as epoch seconds: ``min_time`` .. ``now + max_future_days``."""
        try:
            earliest = datetime.fromisoformat(self.min_time)
        except ValueError:
            raise ValueError(f"min_time must be an ISO-8601 date, got {self.min_time!r}") from None
        if earliest.tzinfo is None:
            earliest = earliest.replace(tzinfo=UTC)
        return int(earliest.timestamp()), int(now + self.max_future_days * 86_400)


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


def _head(path: Path, size: int = 4096, *, compressed: bool = False) -> bytes:
    """The first bytes of a file (decompressed when it is gzip); a read error is an InputError."""
    try:
        if compressed:
            with gzip.open(path, "rb") as fh:
                return fh.read(size)
        with open(path, "rb") as fh:
            return fh.read(size)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(path, f"cannot read file: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    """The first line of an exception's message (library messages can span lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def detect_format(path: Path) -> tuple[Format, bool] | None:
    """Format and gzip flag, from the content's magic bytes first and then the file name.

    Parquet and gzip are known by their first bytes whatever the name (a Parquet file named
    ``.csv`` is Parquet); text is CSV or JSON Lines by its suffix (``.gz`` stripped). None when
    the type is unknown (a README, notes, an image).
    """
    head = _head(path, 4)
    if head.startswith(PARQUET_MAGIC):
        return "parquet", False
    compressed = head.startswith(GZIP_MAGIC)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if compressed and _head(path, 4, compressed=True).startswith(PARQUET_MAGIC):
        raise InputError(path, "a gzip-compressed Parquet file is not supported")
    if fmt == "parquet":
        raise InputError(path, "named as Parquet but is not a Parquet file (no PAR1 magic)")
    return (fmt, compressed) if fmt is not None else None


UNKNOWN_TYPE = "unknown file type (expected .csv, .jsonl or .parquet, optionally .gz)"


URI_ONLY_SPARK = (
    "is a file system URI: only the Spark engine reads those (--engine spark); "
    "the local engine reads local paths and file:// URIs"
)


def local_path(spec: str | Path) -> Path:
    """A local path, or a ``file://`` URI as the local path it names; other URIs fail in one
    line."""
    if not is_uri(spec):
        return Path(spec)
    path = local_file(str(spec))
    if path is None:
        raise InputError(str(spec), URI_ONLY_SPARK)
    return path


class InputFiles(list[Path]):
    """The files to read, in order, each once; ``skipped`` holds folder files of unknown type.

    ``uris`` holds file system URIs (``hdfs://``, ``s3a://``, ``file://``, globs allowed) that
    an engine reading through Spark's file systems lists itself, in the order given; they are
    never mixed with local files (whose order against them would be ambiguous)."""

    skipped: list[tuple[Path, str]]
    uris: list[str]

    def __init__(
        self,
        files: Sequence[Path] = (),
        skipped: Sequence[tuple[Path, str]] = (),
        uris: Sequence[str] = (),
    ):
        super().__init__(files)
        self.skipped = list(skipped)
        self.uris = list(uris)


def _expand(one: str | Path) -> tuple[list[Path], bool]:
    """The files one spec names, and whether they came from a folder or a pattern."""
    p = Path(one)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith((".", "_")))
        if not files:
            raise InputError(p, "folder has no input files")
        return files, True
    if p.is_file():
        return [p], False
    if any(ch in str(one) for ch in "*?["):
        matches = sorted(Path(m) for m in glob.glob(str(one), recursive=True))
        files = [m for m in matches if m.is_file()]
        if not files:
            raise InputError(str(one), "no file matches this pattern")
        return files, True
    raise InputError(p, "no such file or folder")


def resolve_inputs(spec: str | Path | Sequence[str | Path], *, uris: bool = False) -> InputFiles:
    """Expand files, folders and globs into the files to read, each once.

    A file reached twice (named twice, or by a folder and a glob) is read once, with a warning.
    A file of unknown type found in a folder or by a pattern (a README) is skipped with a
    warning and listed in ``skipped``; a file named explicitly must be readable input.
    With ``uris`` (an engine that reads through Spark's file systems), specs that are all
    URIs are kept as they are, in ``uris``, for the engine to list; otherwise a ``file://``
    URI is read as its local path and any other URI fails in one line.
    """
    specs = [spec] if isinstance(spec, str | Path) else list(spec)
    if uris and specs and all(is_uri(s) for s in specs):
        return InputFiles(uris=[str(s) for s in specs])
    if uris and any(is_uri(s) for s in specs):
        first = next(str(s) for s in specs if is_uri(s))
        raise InputError(
            first,
            "local paths and file system URIs mixed: give every input as a URI "
            "(a local file as file:///path)",
        )
    specs = [local_path(s) for s in specs]
    result = InputFiles()
    seen: dict[Path, Path] = {}
    for one in specs:
        files, found = _expand(one)
        for f in files:
            key = f.resolve()
            if key in seen:
                log.warning("%s is the same file as %s: read once", f, seen[key])
                continue
            seen[key] = f
            if found and detect_format(f) is None:
                log.warning("skipping %s: %s", f, UNKNOWN_TYPE)
                result.skipped.append((f, UNKNOWN_TYPE))
                continue
            result.append(f)
    if not result:
        raise InputError(str(specs[0]), "no input files of a known type")
    return result


def _check_text(path: Path, compressed: bool) -> None:
    """Refuse text that is not UTF-8 at all (UTF-16, binary) in one line, before parsing."""
    head = _head(path, compressed=compressed)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(path, "file is UTF-16 encoded; save it as UTF-8")
    if head.count(b"\x00") > len(head) // 8:
        raise InputError(path, "file is not text (many NUL bytes: UTF-16 or binary?); use UTF-8")


def _first_line(path: Path, compressed: bool) -> str | None:
    """The first non-blank line of a text file (without a BOM), or None when it has none."""
    opener = gzip.open if compressed else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
            for line in fh:
                if line.strip():
                    return line.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(path, f"cannot read file: {_one_line(exc)}") from None
    return None


def _parquet_has(path: Path, column: str) -> bool:
    """Whether a Parquet file has the column (its schema says so)."""
    import pyarrow.parquet as pq

    try:
        return column in pq.read_schema(path).names
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read Parquet: {_one_line(exc)}") from None


def _jsonl_has(path: Path, compressed: bool, params: EventsParams) -> bool:
    """Whether the first JSON object of a JSON Lines file has the timestamp key.

    A file whose first record has no timestamp is read in file order, like the plain CSV;
    otherwise a record without one is rejected.
    """
    line = _first_line(path, compressed)
    if line is None:
        raise InputError(path, "file has no rows")
    if line.strip() == "[" or line.lstrip().startswith("[{"):
        raise InputError(path, "a JSON array, not JSON Lines (one object per line)", 1)
    try:
        first = json.loads(line)
    except ValueError:
        return True  # the reader rejects the line itself, with its number
    return not isinstance(first, dict) or params.timestamp_column in first


def sniff(path: Path, params: EventsParams) -> Source:
    """Detect format and CSV layout: a header naming our columns, or headerless 3/4 columns."""
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    detected = detect_format(path)
    if detected is None:
        raise InputError(path, UNKNOWN_TYPE)
    fmt, compressed = detected
    if fmt == "parquet":
        return Source(path, fmt, timestamped=_parquet_has(path, params.timestamp_column))
    _check_text(path, compressed)
    if fmt == "jsonl":
        return Source(
            path, fmt, compressed=compressed, timestamped=_jsonl_has(path, compressed, params)
        )
    line = _first_line(path, compressed)
    if line is None:
        raise InputError(path, "file has no rows")
    first = params.delimiter
    if first == "," and ".tsv" in [s.lower() for s in path.suffixes]:
        first = "\t"
    for delim in dict.fromkeys((first, *SEPARATORS)):
        source = _csv_layout(path, line, delim, params, compressed)
        if source is not None:
            if delim != first:
                log.info("%s: reading with separator %r", path, delim)
            return source
    fields = _split(line, first)
    raise InputError(
        path,
        f"cannot tell the layout: no header naming {params.user_column}/{params.action_column}/"
        f"{params.item_column}, and {len(fields)} columns where a headerless file has 3 "
        "(user_id,action,item_id) or 4 (…,timestamp)",
        1,
    )


def _split(line: str, delim: str) -> list[str]:
    """The stripped fields of one CSV line."""
    return [f.strip() for f in next(csv.reader(io.StringIO(line), delimiter=delim), [])]


def _csv_layout(
    path: Path, line: str, delim: str, params: EventsParams, compressed: bool
) -> Source | None:
    """The layout the first line gives with this separator, or None when it gives none."""
    fields = _split(line, delim)
    wanted = {
        params.user_column: "user_id",
        params.action_column: "action",
        params.item_column: "item_id",
        params.timestamp_column: "timestamp",
    }
    if any(f in wanted for f in fields):
        need = (params.user_column, params.action_column, params.item_column)
        missing = [name for name in need if name not in fields]
        if missing:
            found = ", ".join(fields)
            raise InputError(
                path, f"header lacks column(s) {', '.join(missing)} (found: {found})", 1
            )
        twice = sorted({f for f in fields if f in wanted and fields.count(f) > 1})
        if twice:
            raise InputError(path, f"header names column(s) {', '.join(twice)} twice", 1)
        columns = tuple(wanted.get(f, f"_extra{n}") for n, f in enumerate(fields))
        return Source(path, "csv", True, columns, compressed, delim)
    if len(fields) == 3:
        return Source(path, "csv", False, EVENT_COLUMNS[:3], compressed, delim)
    if len(fields) == 4:
        return Source(path, "csv", False, EVENT_COLUMNS, compressed, delim)
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BLANK = re.compile(r"[\s\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+")
_WHOLE = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
PostedEvent = tuple[str, str, str, int | None]
"""A valid posted event: user_id, action (trimmed, before renaming), item_id, t or None."""


def check_event(
    record: object, params: EventsParams, *, timed: bool
) -> tuple[PostedEvent | None, str | None]:
    """One posted event (a decoded JSON value) checked by the rules a file row meets
    (``engine.local.checks``): the event, or None and the reason in the reader's words.
    ``timed``: the event must carry a
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
    if reason is None:
        reason = _plausible(t, raw, params)
    if reason is not None:
        return None, reason
    return (ids["user_id"], ids["action"], ids["item_id"], t), None


def _shown(value: str) -> str:
    """A value in quotes, cut after 40 characters."""
    return "'" + value[:40] + ("..." if len(value) > 40 else "") + "'"


def _posted_id(name: str, value: object) -> tuple[str, str | None]:
    """A posted id as text (spaces trimmed, a whole JSON number made an integer), or the
    reason it is no id."""
    if isinstance(value, bool | dict | list):
        kind = {bool: "boolean", dict: "object", list: "array"}[type(value)]
        return "", f"{name} is a JSON {kind}, not an id"
    if isinstance(value, float):
        if not (math.isfinite(value) and value == math.floor(value) and abs(value) < 2**53):
            return "", f"{name} {_shown(str(value))} is not a whole number"
        value = int(value)
    text = "" if value is None else str(value).strip(" ")
    if not text:
        return "", f"empty {name}"
    if _BLANK.fullmatch(text):
        return "", f"{name} is only whitespace"
    found = _CONTROL.search(text)
    if found:
        return "", f"{name} contains control character U+{ord(found.group()):04X}"
    if len(text) > MAX_ID_LENGTH:
        return "", f"{name} is {len(text)} characters long (at most {MAX_ID_LENGTH})"
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
    found = _CONTROL.search(text)
    if found:
        return 0, f"timestamp contains control character U+{ord(found.group()):04X}"
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


def _plausible(t: int, raw: object, params: EventsParams) -> str | None:
    """Why a time is implausible (before ``min_time``, in the future, or in milliseconds
    given as seconds), as the reader words it; None when it is plausible."""
    lo, hi = params.time_bounds(time.time())
    value = _shown(str(raw).strip())
    if t < lo:
        return f"timestamp {value} is before {params.min_time}"
    if t > hi:
        numeric = isinstance(raw, int) or bool(_NUMBER.fullmatch(str(raw).strip()))
        for factor, unit in (
            (1_000, "milliseconds"),
            (10**6, "microseconds"),
            (10**9, "nanoseconds"),
        ):
            if numeric and lo <= t // factor <= hi:
                return f"timestamp {value} looks like {unit}, not seconds"
        return f"timestamp {value} is in the future"
    return None


def _in_range(t: int, raw: object) -> tuple[int, str | None]:
    """A time that fits the engines' 64-bit integers, or the reason it does not."""
    if -(2**63) <= t < 2**63:
        return t, None
    return 0, f"timestamp {_shown(str(raw))} is out of range"
