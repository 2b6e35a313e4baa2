"""DuckDB spill folders: one per run, named after the process, swept when that process is gone.

A run removes its own folder when it ends; a killed run cannot, so the next run removes the
folders of processes that no longer exist (never those of a live process, which may be
another run spilling right now).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from shopscale.log import get_logger
from shopscale.store.paths import process_alive

log = get_logger("engine.local.spill")

PREFIX = "shopscale-duckdb-"
_NAME = re.compile(rf"^{PREFIX}(\d+)-")


def new_spill_dir(root: Path | None = None) -> Path:
    """A fresh spill folder under ``root`` (the system temp folder), named after this process."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root))


def sweep_stale(root: Path | None = None) -> list[Path]:
    """Remove spill folders left by processes that are gone; return what was removed."""
    base = Path(root or tempfile.gettempdir())
    removed = []
    for path in base.glob(f"{PREFIX}*"):
        match = _NAME.match(path.name)
        if not path.is_dir() or match is None or process_alive(int(match.group(1))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    if removed:
        log.info("removed %d spill folder(s) left by killed runs", len(removed))
    return removed
