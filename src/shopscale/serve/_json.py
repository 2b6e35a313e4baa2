"""JSON bytes for answers on the hot path: orjson when installed, else ``json``."""

from __future__ import annotations

import importlib
import json
from typing import Any

try:
    _orjson: Any = importlib.import_module("orjson")
except ImportError:  # the serve extra installs it; the server works without
    _orjson = None


def dumps(content: Any) -> bytes:
    """``content`` as compact UTF-8 JSON (floats round-trip exactly either way)."""
    if _orjson is not None:
        return bytes(_orjson.dumps(content))
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
