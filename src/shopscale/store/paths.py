"""Can we write there? Output locations checked before any heavy work.

A command that reads a big log, searches settings for minutes or solves routes must not learn
only at the end that its ``--out`` is a folder, sits under a regular file, or is read-only.
These checks create (and remove) a probe file where the output will go, so permissions,
read-only mounts and odd parents are caught as the writer would meet them, even as root.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shopscale.errors import InputError
from shopscale.uris import is_uri, local_file


def output_uri(spec: str | Path) -> str | None:
    """``spec`` when it is a URI of a file system other than this machine's (``hdfs://``,
    ``s3a://``...: only the Spark engine publishes there), else None."""
    if isinstance(spec, Path) or not is_uri(spec) or local_file(spec) is not None:
        return None
    return spec


def output_folder(spec: str | Path) -> Path:
    """The local folder an ``--out`` names: a path, or a ``file://`` URI. Outputs are
    published by renames and links on one POSIX file system, so other URIs (``hdfs://``,
    ``s3a://``) fail in one line instead of being folded into a local path."""
    if isinstance(spec, Path) or not is_uri(spec):
        return Path(spec)
    path = local_file(spec)
    if path is None:
        raise InputError(
            spec,
            "an output on a file system URI is not supported: give a folder path (on a "
            "cluster, a shared folder the driver and every executor see at the same path)",
        )
    return path


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (what the writer's mkdir starts from)."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return Path.cwd()


def _probe(folder: Path, target: Path) -> None:
    """Create and remove a temp file in ``folder``, or fail naming ``target`` and the cause."""
    if not folder.is_dir():
        raise InputError(target, f"cannot write here: {folder} is a file, not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".probe-", dir=folder)
    except OSError as exc:
        raise InputError(target, f"cannot write in {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(name)


def check_output_file(path: str | Path) -> Path:
    """Fail now (one line naming the path) unless a file can be written at ``path``.

    Its folder may be missing (the writer creates it) but its nearest existing ancestor must
    be a writable folder; ``path`` itself must not be a folder.
    """
    target = Path(path)
    if target.is_dir():
        raise InputError(target, "is a folder; give a file name for the output")
    _probe(_nearest_existing(target.parent), target)
    return target


def check_output_folder(path: str | Path) -> Path:
    """Fail now (one line naming the path) unless files can be written into folder ``path``."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(target, "is a file; give a folder for the output")
    _probe(_nearest_existing(target), target)
    return target


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an OS error while writing ``path`` (disk full, a folder vanished, permissions
    changed since the check) into one line naming the path and the cause."""
    try:
        yield
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from None


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive): the
    sweeps of staging and spill folders named after their run never remove a live run's."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
