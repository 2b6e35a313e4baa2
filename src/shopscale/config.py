"""Frozen parameter dataclasses loaded from one TOML file, section by section.

A key the section does not know, or a value of the wrong type, is a ``ConfigError`` naming the
file and the key: a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from shopscale.errors import ConfigError

P = TypeVar("P")


def read_toml(path: str | Path | None) -> dict[str, Any]:
    """Read a TOML file into a dict; ``None`` gives an empty config."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(str(p), "-", "config file not found")
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), "-", f"not valid TOML: {exc}") from None


def _check_type(value: Any, hint: Any) -> bool:
    """Loose runtime check of a TOML value against a dataclass field's type hint."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_check_type(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (tuple, list):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return isinstance(value, list | tuple) and all(_check_type(v, inner) for v in value)
    if origin in (dict, Mapping) or hint is dict:
        args = typing.get_args(hint)
        if not isinstance(value, Mapping):
            return False
        if len(args) == 2:
            return all(
                _check_type(k, args[0]) and _check_type(v, args[1]) for k, v in value.items()
            )
        return True
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _expected(hint: Any) -> str:
    """A type hint in words: ``one of 'llr', 'geometric'`` rather than ``typing.Literal[...]``."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_expected(h) for h in typing.get_args(hint) if h is not type(None))
    if hint in (int, float):
        return "a number" if hint is float else "a whole number"
    return getattr(hint, "__name__", str(hint))


def _convert(value: Any, hint: Any) -> Any:
    """Turn TOML lists into tuples and tables into plain dicts where the field expects them."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for h in typing.get_args(hint):
            if h is not type(None) and _check_type(value, h):
                return _convert(value, h)
        return value
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(value)
    if hint is float and isinstance(value, int):
        return float(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


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
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(source, f"{section}.{key}", f"unknown key (known keys: {known})")
        if not _check_type(value, hints[key]):
            reason = f"expected {_expected(hints[key])}, got {value!r}"
            if key in flags:
                raise ConfigError("command line", flags[key], reason)
            raise ConfigError(source, f"{section}.{key}", reason)
        kwargs[key] = _convert(value, hints[key])
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        # the check's message starts with the field it rejects: name that field's flag
        named = sorted(key for key in flags if re.search(rf"\b{key}\b", str(exc)))
        if named:
            raise ConfigError("command line", flags[named[0]], str(exc)) from None
        raise ConfigError(source, section, str(exc)) from None


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
