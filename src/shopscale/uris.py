"""File system URIs beside local paths: which specs are URIs, and the local path a ``file://``
URI names (``Path`` would silently fold ``hdfs:///m`` into a local ``hdfs:/m``)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(spec: object) -> bool:
    """Whether ``spec`` is a file system URI (``hdfs://...``, ``s3a://...``, ``file://...``)
    rather than a local path."""
    return isinstance(spec, str) and bool(_SCHEME.match(spec))


def local_file(spec: str) -> Path | None:
    """The local path a ``file://`` URI (no host, or ``localhost``) names, escapes decoded;
    None for any other URI."""
    parts = urlsplit(spec)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    return Path(unquote(parts.path))
