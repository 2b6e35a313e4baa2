"""The results folder a server reads its model from and publishes its folds into.

Interim, until ``store.versions.VersionedFolder`` is on this branch: the same layout
(``current -> .versions/<id>``, switched by one ``os.replace`` of a symlink), so a folder
published here is read by the versioned code and the other way round. An unversioned results
folder (``model/state.json`` at the top) is its own current version until the first fold.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from shopscale.errors import ShopscaleError

CURRENT = "current"
VERSIONS = ".versions"
STAGING_PREFIX = ".staging-"


def current_version(root: Path) -> Path:
    """The published version's folder (resolved once: read every file of it from there)."""
    link = root / CURRENT
    if link.is_dir():
        return link.resolve()
    if (root / "model" / "state.json").is_file():
        return root.resolve()
    raise ShopscaleError(f"{root}: no model to serve (run shopscale recommend --out {root} first)")


@contextlib.contextmanager
def new_version(root: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success fsync it, move it into ``.versions`` and
    switch ``current`` to it with one rename; on failure remove it (nothing published)."""
    versions = root / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name.split("-")[0]) for p in versions.iterdir() if p.name[:6].isdigit()]
    vid = f"{max(taken, default=0) + 1:06d}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    staging = root / f"{STAGING_PREFIX}{vid}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        _fsync_tree(staging)
        os.rename(staging, versions / vid)
        _fsync(versions)
        tmp = root / f".link-{vid}"
        os.symlink(Path(VERSIONS) / vid, tmp)
        os.replace(tmp, root / CURRENT)
        _fsync(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _fsync(path: Path) -> None:
    """Make a file's bytes or a folder's entries durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(top: Path) -> None:
    """fsync every file and folder under ``top``."""
    for folder, _, files in os.walk(top):
        for name in files:
            _fsync(Path(folder) / name)
        _fsync(Path(folder))
