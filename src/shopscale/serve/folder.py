"""The results folder a server reads its model from and publishes its folds into: a
``store.versions.VersionedFolder`` (one atomic switch per fold, under the folder's lock, so a
``shopscale update`` running at the same time fails fast instead of mixing)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from shopscale.errors import ShopscaleError
from shopscale.store.versions import VersionedFolder


def current_version(root: Path) -> Path:
    """The published version's folder (resolved once: read every file of it from there);
    an unversioned results folder is its own current version."""
    current = VersionedFolder(root).current()
    if current is not None:
        return current
    if (root / "model" / "state.json").is_file():
        return root.resolve()
    raise ShopscaleError(f"{root}: no model to serve (run shopscale recommend --out {root} first)")


@contextlib.contextmanager
def new_version(root: Path) -> Iterator[Path]:
    """The folder's lock and an empty staging folder, published atomically on success."""
    with VersionedFolder(root).new_version() as staging:
        yield staging
