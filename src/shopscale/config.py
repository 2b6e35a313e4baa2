"""Frozen parameter dataclasses loaded from one TOML file, section by section.

A key the section does not know, or a value of the wrong type, is a ``ConfigError`` naming the
file and the key: a typo never silently falls back to a default.

Every ``*Params`` class calls ``check_fields(self)`` first thing in ``__post_init__``: each field
is checked against its type hint (``Literal`` choices, finite ``float``, 64-bit ``int``, ``str``,
``bool``, and tuples, lists, dicts and unions of them), so a new field is validated without new
code, from TOML, flags and the Python API alike.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from shopscale.errors import ConfigError

P = TypeVar("P")
INT_LIMIT = 2**63
"""Whole-number settings must fit a signed 64-bit integer (what engines and databases hold)."""
MAX_TOML_BYTES = 1_000_000


def read_toml(path: str | Path | None) -> dict[str, Any]:
    """Read a TOML file into a dict; ``None`` gives an empty config."""
    if path is None:
        return {}
    p = Path(path)
    if p.is_dir():
        raise ConfigError(str(p), "-", "is a folder, not a TOML file")
    if not p.exists():
        raise ConfigError(str(p), "-", "config file not found")
    if not p.is_file():
        raise ConfigError(str(p), "-", "not a regular file (a device or pipe?)")
    try:
        if p.stat().st_size > MAX_TOML_BYTES:
            raise ConfigError(str(p), "-", f"larger than {MAX_TOML_BYTES:,} bytes: not a config")
        text = p.read_bytes().decode("utf-8")
        return tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(p), "-", f"not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), "-", f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(str(p), "-", f"cannot read: {exc.strerror or exc}") from None


Mismatch = tuple[str, str, Any]
"""Where inside the value (``""``, ``.viewed``, ``[2]``), what was expected, what was found."""


def _union_mismatch(value: Any, hint: Any) -> Mismatch | None:
    """A union fits when one member fits; else name every member but None."""
    members = typing.get_args(hint)
    if any(mismatch(value, h) is None for h in members):
        return None
    return "", " or ".join(describe(h) for h in members if h is not type(None)), value


def _items_mismatch(value: Any, hint: Any) -> Mismatch | None:
    """Tuples and lists (``tuple[X, ...]``, ``list[X]``) and mappings (``dict[K, V]``)."""
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    if typing.get_origin(hint) in (tuple, list):
        if not isinstance(value, list | tuple):
            return "", describe(hint), value
        for n, v in enumerate(value):
            found = mismatch(v, args[0]) if args else None
            if found:
                return f"[{n}]{found[0]}", found[1], found[2]
        return None
    if not isinstance(value, Mapping):
        return "", describe(hint), value
    for k, v in value.items():
        if len(args) == 2 and mismatch(k, args[0]):
            return "", f"{describe(args[0])} keys", k
        found = mismatch(v, args[1]) if len(args) == 2 else None
        if found:
            return f".{k}{found[0]}", found[1], found[2]
    return None


def mismatch(value: Any, hint: Any) -> Mismatch | None:
    """How ``value`` does not fit the type ``hint``, or None when it fits.

    ``float`` takes any finite real number (ints too, not bools); ``int`` any whole number
    (not bools) below ``2**63`` in size; ``Literal`` only its choices.
    """
    origin = typing.get_origin(hint)
    if hint is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        return _union_mismatch(value, hint)
    if origin is typing.Literal:
        return None if value in typing.get_args(hint) else ("", describe(hint), value)
    if origin in (tuple, list, dict) or hint is dict or (origin is Mapping):
        return _items_mismatch(value, hint)
    if hint is type(None):
        ok = value is None
    elif hint is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        ok = ok and math.isfinite(value)
    elif hint is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        if ok and abs(int(value)) >= INT_LIMIT:
            return "", "a whole number below 2**63 in size", value
    elif isinstance(hint, type):
        ok = isinstance(value, hint)
    else:
        ok = True
    return None if ok else ("", describe(hint), value)


def describe(hint: Any) -> str:
    """A type hint in words: ``one of 'llr', 'geometric'`` rather than ``typing.Literal[...]``."""
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(h) for h in args if h is not type(None))
    if hint is float:
        return "a finite number"
    if hint is int:
        return "a whole number"
    if hint is bool:
        return "true or false"
    if hint is str:
        return "a string"
    if origin in (tuple, list):
        return f"a list of ({describe(args[0])})" if args else "a list"
    if origin in (dict, Mapping) or hint is dict:
        return f"a table of {describe(args[1])}" if len(args) == 2 else "a table"
    return getattr(hint, "__name__", str(hint))


_HINTS: dict[type, dict[str, Any]] = {}


def field_hints(cls: type) -> dict[str, Any]:
    """Each dataclass field of ``cls`` with its resolved type hint (cached per class)."""
    if cls not in _HINTS:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return _HINTS[cls]


def check_fields(params: Any) -> None:
    """Raise ``ValueError`` naming the first field of the dataclass ``params`` whose value does
    not fit its type hint (non-finite float, value outside its ``Literal``, ...).

    The message starts with the field's name, so ``make_params`` can name its flag or key.
    """
    for name, hint in field_hints(type(params)).items():
        found = mismatch(getattr(params, name), hint)
        if found:
            where, expected, value = found
            raise ValueError(f"{name}{where} must be {expected}, got {value!r}")


def _convert(value: Any, hint: Any) -> Any:
    """Turn TOML lists into tuples and tables into plain dicts where the field expects them."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for h in typing.get_args(hint):
            if h is not type(None) and mismatch(value, h) is None:
                return _convert(value, h)
        return value
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(value)
    if hint is float and isinstance(value, int):
        return float(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _named_key(message: str, keys: typing.Iterable[str]) -> str | None:
    """The key a check's message names first (messages start with the field they reject)."""
    places = [(m.start(), key) for key in keys if (m := re.search(rf"\b{key}\b", message))]
    return min(places)[1] if places else None


def make_params(
    cls: type[P],
    values: Mapping[str, Any],
    *,
    source: str,
    section: str,
    flags: Mapping[str, str] | None = None,
) -> P:
    """Build ``cls`` from ``values``, rejecting unknown keys and ill-typed values by name;
    a bad value of a key in ``flags`` (key -> flag, set on the command line) names its flag."""
    flags = flags or {}
    hints = field_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(source, f"{section}.{key}", f"unknown key (known keys: {known})")
        found = mismatch(value, hints[key])
        if found:
            where, expected, bad = found
            reason = f"expected {expected}, got {bad!r}"
            if key in flags:  # the bad value is quoted: the flag alone says where
                raise ConfigError("command line", flags[key], reason)
            raise ConfigError(source, f"{section}.{key}{where}", reason)
        kwargs[key] = _convert(value, hints[key])
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        named = _named_key(str(exc), hints)
        if named is not None and named in flags:
            raise ConfigError("command line", flags[named], str(exc)) from None
        place = f"{section}.{named}" if named in values else section
        raise ConfigError(source, place, str(exc)) from None


def load_params(
    cls: type[P],
    config: Mapping[str, Any],
    section: str,
    *,
    source: str = "<config>",
    overrides: Mapping[str, Any] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> P:
    """Build ``cls`` from ``config[section]`` with non-None ``overrides`` (CLI flags) on top.

    ``flag_names`` maps a key to its flag where they differ (``n`` -> ``--top``); otherwise
    the flag of ``max_items_per_user`` is ``--max-items-per-user``.
    """
    raw = config.get(section, {})
    if not isinstance(raw, Mapping):
        raise ConfigError(source, section, "expected a table")
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    flags = {key: (flag_names or {}).get(key, "--" + key.replace("_", "-")) for key in given}
    return make_params(cls, {**raw, **given}, source=source, section=section, flags=flags)


def check_sections(config: Mapping[str, Any], known: set[str], *, source: str) -> None:
    """Reject top-level sections nobody reads (a typo such as ``[recomend]``)."""
    for key in config:
        if key not in known:
            raise ConfigError(source, key, f"unknown section (known: {', '.join(sorted(known))})")
