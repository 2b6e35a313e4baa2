"""Row-level reading helpers: CSV/JSON records, typed field parsers and per-row error lists."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopscale.errors import InputError

MAX_LISTED = 25


class RowError(InputError):
    """Several bad rows at once: each ``(path, line, reason)`` is listed on its own line."""

    def __init__(self, problems: list[tuple[str, int | None, str]]) -> None:
        self.problems = problems
        path = problems[0][0]
        if len(problems) == 1:  # one problem is one line: file:line: reason
            super().__init__(path, problems[0][2], line=problems[0][1])
            return
        lines = [f"{p}:{n}: {r}" if n is not None else f"{p}: {r}" for p, n, r in problems]
        shown = lines[:MAX_LISTED]
        if len(lines) > MAX_LISTED:
            shown.append(f"... and {len(lines) - MAX_LISTED} more")
        reason = f"{len(problems)} input problem(s), nothing was solved:\n  " + "\n  ".join(shown)
        super().__init__(path, reason, line=None)


@dataclass
class Collector:
    """Gathers every row problem so a user sees all of them in one run."""

    problems: list[tuple[str, int | None, str]] = field(default_factory=list)

    def add(self, path: str, line: int | None, reason: str) -> None:
        """Record one problem."""
        self.problems.append((path, line, reason))

    def raise_if_any(self) -> None:
        """Raise ``RowError`` listing every recorded problem."""
        if self.problems:
            raise RowError(self.problems)


class BadFieldError(ValueError):
    """A field value that does not parse; the message is shown with file and row."""


def records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, record)`` from a CSV (line numbers count the header) or a JSON list."""
    if not path.is_file():
        raise InputError(path, "file not found")
    if path.suffix.lower() == ".json":
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InputError(path, "expected a JSON list of objects")
        for k, item in enumerate(items, start=1):
            yield k, {str(key).strip().lower(): v for key, v in item.items()}
        return
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise InputError(path, "empty file (expected a header row)", line=1)
        for row in reader:
            clean = {
                (k or "").strip().lower(): (v.strip() if isinstance(v, str) else v)
                for k, v in row.items()
            }
            yield reader.line_num, {k: v for k, v in clean.items() if v not in ("", None)}


def get_float(rec: dict[str, Any], key: str, default: float | None = None) -> float | None:
    """A float field, ``default`` when absent."""
    if key not in rec:
        return default
    try:
        return float(rec[key])
    except (TypeError, ValueError):
        raise BadFieldError(f"{key}={rec[key]!r} is not a number") from None


def get_int(rec: dict[str, Any], key: str, default: int) -> int:
    """An integer field (``3`` or ``3.0``), ``default`` when absent."""
    value = get_float(rec, key, None)
    if value is None:
        return default
    if value != int(value):
        raise BadFieldError(f"{key}={rec[key]!r} is not a whole number")
    return int(value)


def get_time(rec: dict[str, Any], key: str, default: int) -> int:
    """A time as seconds: an integer, or ``HH:MM[:SS]`` (seconds since midnight)."""
    if key not in rec:
        return default
    value = rec[key]
    if isinstance(value, str) and ":" in value:
        parts = value.split(":")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise BadFieldError(f"{key}={value!r} is not a time (HH:MM or seconds)") from None
        if len(nums) not in (2, 3):
            raise BadFieldError(f"{key}={value!r} is not a time (HH:MM or seconds)")
        return nums[0] * 3600 + nums[1] * 60 + (nums[2] if len(nums) == 3 else 0)
    return get_int(rec, key, default)


def get_list(rec: dict[str, Any], key: str) -> list[str]:
    """A list field: a JSON list, or text separated by ``;``."""
    if key not in rec:
        return []
    value = rec[key]
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [p.strip() for p in str(value).split(";") if p.strip()]


def get_ints(rec: dict[str, Any], key: str, default: list[int]) -> list[int]:
    """A list of whole numbers such as ``10;5`` (multi-dimensional demand or capacity)."""
    if key not in rec:
        return default
    out = []
    for part in get_list(rec, key):
        try:
            value = float(part)
        except ValueError:
            raise BadFieldError(f"{key}={rec[key]!r} is not a number or list of numbers") from None
        if value != int(value):
            raise BadFieldError(f"{key}={rec[key]!r} is not a whole number")
        out.append(int(value))
    return out or default


def get_point(rec: dict[str, Any], prefix: str = "") -> tuple[float, float, str] | None:
    """``(x, y, kind)`` from ``x``/``y`` or ``lat``/``lon`` columns; kind is 'xy' or 'geo'."""
    lat, lon = get_float(rec, f"{prefix}lat"), get_float(rec, f"{prefix}lon")
    x, y = get_float(rec, f"{prefix}x"), get_float(rec, f"{prefix}y")
    if lat is not None or lon is not None:
        if lat is None or lon is None:
            raise BadFieldError(f"{prefix}lat and {prefix}lon must both be given")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise BadFieldError(f"{prefix}lat/{prefix}lon out of range: {lat}, {lon}")
        return lon, lat, "geo"
    if x is not None or y is not None:
        if x is None or y is None:
            raise BadFieldError(f"{prefix}x and {prefix}y must both be given")
        return x, y, "xy"
    return None
