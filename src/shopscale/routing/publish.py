"""The plan folder is checked before any work and replaced whole, never file by file.

``prepare_out`` runs before the inputs are read: ``--out`` must be a folder we may replace (it
does not exist, or holds only plan files), its parent must take a small probe write (so a
read-only folder, a full disk or a file-size limit fails in a second, not after the solve),
and the plan is then written into a staging folder beside it. ``publish`` swaps the staging
folder in with renames; any failure or interrupt before that leaves the previous plan as it
was. Staging folders of runs that died are swept by the next run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from shopscale.errors import InputError
from shopscale.log import get_logger
from shopscale.store.paths import process_alive

log = get_logger("routing.publish")

PLAN_FILES = frozenset({"plan.csv", "plan.json", "routes.geojson", "map.png", "summary.json"})
"""Everything ``routes plan`` writes; a folder holding anything else is not replaced."""

PROBE_BYTES = 8192
"""Size of the up-front probe write: enough to catch a full disk or a file-size limit."""


@dataclass(frozen=True)
class Staging:
    """Where a run writes its plan before ``publish`` swaps it in as ``out``."""

    out: Path
    folder: Path

    @property
    def backup(self) -> Path:
        """Where the previous plan waits during the swap."""
        return self.out.parent / f".{self.out.name}.old-{os.getpid()}"


def _sweep(out: Path) -> None:
    """Remove staging folders of dead runs; put back a plan a dead run had moved aside."""
    for kind in ("staging", "old"):
        prefix = f".{out.name}.{kind}-"
        for path in sorted(p for p in out.parent.iterdir() if p.name.startswith(prefix)):
            pid = path.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or process_alive(int(pid)):
                continue
            if kind == "old" and not out.exists():
                log.warning("restoring the previous plan %s left aside by a killed run", out)
                path.rename(out)
            else:
                shutil.rmtree(path, ignore_errors=True)


def _check_target(out: Path) -> None:
    """``out`` is missing, or a folder holding only plan files (so replacing it loses nothing)."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "--out exists and is not a folder")
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in PLAN_FILES)
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise InputError(
                out, f"--out holds files that are not a plan ({shown}); use an empty folder"
            )


def prepare_out(out: Path) -> Staging:
    """Check ``out`` and create the staging folder beside it, probing that it is writable."""
    out = Path(os.path.abspath(out))
    _check_target(out)
    folder = out.parent / f".{out.name}.staging-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _sweep(out)
        folder.mkdir()
        with (folder / ".probe").open("wb") as fh:
            fh.write(b"\0" * PROBE_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
        (folder / ".probe").unlink()
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise InputError(out, f"--out cannot be written: {exc.strerror or exc}") from None
    return Staging(out, folder)


def discard(staging: Staging) -> None:
    """Remove the staging folder (the run failed or was interrupted before publishing)."""
    shutil.rmtree(staging.folder, ignore_errors=True)


def publish(staging: Staging) -> None:
    """Swap the staging folder in as ``out``; the previous plan stays if anything fails."""
    out, backup = staging.out, staging.backup
    moved = False
    try:
        if out.exists():
            out.rename(backup)
            moved = True
        staging.folder.rename(out)
    except BaseException as exc:  # an interrupt between the renames must not lose the plan
        if moved and not out.exists():
            backup.rename(out)
        discard(staging)
        if isinstance(exc, OSError):
            reason = f"could not publish the plan: {exc.strerror or exc}"
            raise InputError(out, f"{reason}; the previous plan is unchanged") from None
        raise
    if moved:
        shutil.rmtree(backup, ignore_errors=True)
