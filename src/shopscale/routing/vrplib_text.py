"""A line-aware reader of the VRPLIB text format: specifications and sections with line numbers.

The ``vrplib`` package parses values well but forgets where they came from and trusts row
order over node ids, so a repeated node id or a short section went unnoticed and a
non-numeric value surfaced as a bare ``ValueError``. Here every value keeps its line, node
rows are placed by their id, and every problem is listed as ``file:line: reason``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shopscale.errors import InputError
from shopscale.routing.rows import Collector


@dataclass(frozen=True)
class Spec:
    """One ``KEY : value`` line."""

    value: str
    line: int


@dataclass
class Section:
    """One ``NAME_SECTION`` with its data rows (line number, tokens)."""

    name: str
    line: int
    rows: list[tuple[int, list[str]]] = field(default_factory=list)


@dataclass
class VrplibText:
    """The file's specifications and sections by upper-case name, and its path for errors."""

    path: Path
    specs: dict[str, Spec]
    sections: dict[str, Section]
    errors: Collector = field(default_factory=Collector)

    def add(self, line: int | None, reason: str) -> None:
        """Record a problem at ``line`` of the file."""
        self.errors.add(str(self.path), line, reason)


def _lines(path: Path) -> list[str]:
    """The file's lines (UTF-8 or Latin-1 text)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    raw = path.read_bytes()
    if b"\0" in raw:
        raise InputError(path, "not a VRPLIB text file (binary content)")
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return raw.decode("latin-1").splitlines()


def scan(path: Path) -> VrplibText:
    """Split a VRPLIB file into specifications and sections, keeping line numbers."""
    text = VrplibText(path, {}, {})
    current: Section | None = None
    for number, raw in enumerate(_lines(path), start=1):
        line = raw.strip()
        if not line:
            continue
        head = line.split()[0].rstrip(":").upper()
        if head == "EOF":
            break
        if head.endswith("_SECTION"):
            current = Section(head, number)
            if head in text.sections:
                first = text.sections[head].line
                text.add(number, f"{head} appears twice (first at line {first})")
            text.sections.setdefault(head, current)
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().upper()
            if current is not None:
                text.add(number, f"specification {key} after a section")
            elif key in text.specs:
                text.add(number, f"{key} appears twice (first at line {text.specs[key].line})")
            else:
                text.specs[key] = Spec(value.strip().strip('"'), number)
        elif current is None:
            text.add(number, f"not a VRPLIB line: {line[:40]!r}")
        else:
            current.rows.append((number, line.split()))
    return text


def number(token: str) -> float:
    """A finite number, or ``ValueError`` with the reason."""
    try:
        value = float(token)
    except ValueError:
        raise ValueError(f"{token!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{token!r} is not a finite number")
    return value


def spec_number(text: VrplibText, key: str, default: float | None, *, whole: bool) -> float | None:
    """A numeric specification (``None`` and a recorded problem when it does not parse)."""
    spec = text.specs.get(key)
    if spec is None:
        return default
    try:
        value = number(spec.value)
        if whole and value != int(value):
            raise ValueError(f"{spec.value!r} is not a whole number")
        if value < 0:
            raise ValueError(f"{spec.value!r} is negative")
    except ValueError as exc:
        text.add(spec.line, f"{key}: {exc}")
        return None
    return value


def _row_id(text: VrplibText, section: Section, line: int, token: str, n: int) -> int | None:
    """The 0-based node of a row, or ``None`` with a recorded problem."""
    try:
        node = int(token)
    except ValueError:
        text.add(line, f"{section.name}: node id {token!r} is not a whole number")
        return None
    if not 1 <= node <= n:
        text.add(line, f"{section.name}: node {node} is outside 1..{n} (DIMENSION is {n})")
        return None
    return node - 1


def _values(tokens: list[str], *, whole: bool, nonneg: bool) -> list[float]:
    """Finite numbers (whole and/or non-negative when asked), or ``ValueError``."""
    values = [number(t) for t in tokens]
    for token, value in zip(tokens, values, strict=True):
        if whole and value != int(value):
            raise ValueError(f"{token!r} is not a whole number")
        if nonneg and value < 0:
            raise ValueError(f"{token} is negative")
    return values


def node_values(
    text: VrplibText, name: str, n: int, width: int, *, whole: bool = False, nonneg: bool = True
) -> np.ndarray:
    """Rows ``id v1 .. v_width`` of a section as an ``(n, width)`` array placed by node id.

    Every node must appear exactly once; a repeated id, a missing node, a wrong value count
    or a value that is not a (whole, non-negative) number is recorded with its line.
    """
    section = text.sections[name]
    out = np.zeros((n, width), dtype=float)
    first: dict[int, int] = {}
    for line, tokens in section.rows:
        node = _row_id(text, section, line, tokens[0], n)
        if node is None:
            continue
        if node in first:
            text.add(line, f"{name}: node {node + 1} appears again (first at line {first[node]})")
            continue
        first[node] = line
        if len(tokens) != width + 1:
            text.add(line, f"{name}: node {node + 1} has {len(tokens) - 1} values, not {width}")
            continue
        try:
            values = _values(tokens[1:], whole=whole, nonneg=nonneg)
        except ValueError as exc:
            text.add(line, f"{name}: node {node + 1}: {exc}")
            continue
        out[node] = values
    missing = [k + 1 for k in range(n) if k not in first]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        text.add(
            section.line,
            f"{name} has {len(first)} of the {n} nodes DIMENSION declares (missing: {shown})",
        )
    return out


def edge_weights(text: VrplibText, n: int) -> np.ndarray | None:
    """The ``EDGE_WEIGHT_SECTION`` as an ``n x n`` matrix (FULL_MATRIX or LOWER_ROW)."""
    section = text.sections["EDGE_WEIGHT_SECTION"]
    spec = text.specs.get("EDGE_WEIGHT_FORMAT")
    fmt = spec.value.upper() if spec else "FULL_MATRIX"
    sizes = {"FULL_MATRIX": n * n, "LOWER_ROW": n * (n - 1) // 2}
    if fmt not in sizes:
        text.add(spec.line if spec else None, f"EDGE_WEIGHT_FORMAT {fmt} not supported")
        return None
    values: list[float] = []
    for line, tokens in section.rows:
        try:
            values += [number(t) for t in tokens]
        except ValueError as exc:
            text.add(line, f"EDGE_WEIGHT_SECTION: {exc}")
            return None
    if len(values) != sizes[fmt]:
        text.add(
            section.line,
            f"EDGE_WEIGHT_SECTION has {len(values)} values; {fmt} for DIMENSION {n} "
            f"needs {sizes[fmt]}",
        )
        return None
    if fmt == "FULL_MATRIX":
        return np.asarray(values).reshape(n, n)
    full = np.zeros((n, n))
    full[np.tril_indices(n, k=-1)] = values
    return full + full.T
