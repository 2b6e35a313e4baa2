"""A folder of results published as whole versions, switched by one atomic rename.

Layout of a versioned folder ``OUT``::

    OUT/.lock                     fcntl lock of the writer; holds its pid
    OUT/.versions/<id>/           one complete version per run (files and sub-folders)
    OUT/current -> .versions/<id> the published version (a symlink, replaced with os.replace)
    OUT/<name> -> current/<name>  a stable link per top-level entry of the version
    OUT/.staging-<id>/            the version being written (swept if its run was killed)

``<id>`` is ``<sequence>-<UTC time>`` (``000042-20261201T164501Z``), so ids sort by age.
Readers of ``OUT/summary.json``, ``OUT/recommendations.parquet``... follow ``current``, so
every documented path switches at the single rename of ``current``; a reader that needs
several files of one run resolves ``current()`` once and reads them all from there.

A run takes the lock (a second writer fails at once, naming the first one's pid), sweeps what
killed runs left, writes into a fresh staging folder, fsyncs it, renames it into ``.versions``,
makes the links its new names need (they dangle until the switch), switches ``current``,
removes links to names the new version lacks, and prunes old versions to ``keep``. An older,
unversioned results folder (real files at the top, with a ``summary.json``) becomes the first
version on the first run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shopscale.errors import ShopscaleError
from shopscale.log import get_logger
from shopscale.store.faults import fault_point
from shopscale.store.files import remove_paced

log = get_logger("store.versions")

LOCK = ".lock"
VERSIONS = ".versions"
CURRENT = "current"
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
LINK_PREFIX = ".link-"
_ID = re.compile(r"^(\d{6})-(\d{8}T\d{6}Z)$")
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
LEGACY_MARKER = "summary.json"
LEASE = ".lease"
"""A file in a version that a reader holds a shared ``flock`` on while it memory-maps the
version's files (a server): such a version is not pruned, since cutting a mapped file down
would crash its reader (SIGBUS). The lock goes with the reader's process."""
# temp links of a switch, temp files of an older shopscale's in-place writes, the write probe
_LEFTOVER_FILES = (LINK_PREFIX, ".tmp-", ".shopscale-probe-")
_PARTIAL = re.compile(r"^\..+\.partial-\d+$")  # an older shopscale's half-built SQLite file


@dataclass(frozen=True)
class VersionInfo:
    """One stored version: its id, folder, creation time (UTC) and whether it is published."""

    id: str
    path: Path
    created: datetime
    is_current: bool


class VersionedFolder:
    """Versions of one output folder: publish a new one atomically, list them, roll back."""

    def __init__(self, root: Path, *, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.root = Path(root)
        self.keep = keep

    @property
    def _versions_dir(self) -> Path:
        return self.root / VERSIONS

    def current(self) -> Path | None:
        """The published version's directory (resolved once; read everything from it)."""
        vid = self._current_id()
        if vid is None:
            return None
        path = (self._versions_dir / vid).resolve()
        return path if path.is_dir() else None

    def versions(self) -> list[VersionInfo]:
        """Every complete version, oldest first."""
        current = self._current_id()
        return [
            VersionInfo(vid, self._versions_dir / vid, _created(vid), vid == current)
            for vid in self._ids()
        ]

    @contextlib.contextmanager
    def new_version(self) -> Iterator[Path]:
        """Take the folder's lock (fail fast with a clear ShopscaleError naming the other
        pid if held), sweep leftovers of killed runs, yield an empty staging directory;
        on normal exit fsync and switch atomically to it, then prune to `keep`; on any
        exception remove the staging dir and leave the current version untouched."""
        check_writable(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked():
            self._sweep()
            self._migrate()
            vid = self._next_id()
            staging = self.root / f"{STAGING_PREFIX}{vid}"
            staging.mkdir()
            try:
                yield staging
                self._publish(staging, vid)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            self._prune()

    def rollback(self, to: str | None = None) -> Path:
        """Publish the version before the current one, or the version ``to``; return it."""
        with self._locked():
            ids = self._ids()
            current = self._current_id()
            if to is None:
                older = [vid for vid in ids if current is None or vid < current]
                if not older:
                    raise ShopscaleError(f"{self.root}: no earlier version to roll back to")
                to = older[-1]
            elif to not in ids:
                known = ", ".join(ids) or "none"
                raise ShopscaleError(f"{self.root}: no version {to!r} (versions: {known})")
            self._switch(to)
            return (self._versions_dir / to).resolve()

    # -- publishing --------------------------------------------------------------------------

    def _publish(self, staging: Path, vid: str) -> None:
        """Make the staged folder a version and switch ``current`` to it."""
        if CURRENT in _names(staging):
            raise ValueError(f"a version may not hold a top-level entry named {CURRENT!r}")
        _fsync_tree(staging)
        self._versions_dir.mkdir(exist_ok=True)
        os.rename(staging, self._versions_dir / vid)
        _fsync_dir(self._versions_dir)
        _fsync_dir(self.root)
        self._switch(vid)

    def _switch(self, vid: str) -> None:
        """Links for the version's names, then the one atomic rename, then stale links out."""
        names = _names(self._versions_dir / vid)
        self._check_in_the_way(names)
        for name in names:
            self._link(name, f"{CURRENT}/{name}")
        _fsync_dir(self.root)
        fault_point("publish:before-switch")
        self._link(CURRENT, f"{VERSIONS}/{vid}")
        _fsync_dir(self.root)
        fault_point("publish:after-switch")
        log.info("published %s", self._versions_dir / vid)
        try:
            self._remove_stale_links(names)
        except OSError as err:  # the switch happened; a dangling link is harmless
            log.warning("could not remove stale links in %s: %s", self.root, err)

    def _check_in_the_way(self, names: list[str]) -> None:
        """Fail before the switch if a real file (or a foreign link) sits on a result name."""
        for name in names:
            path = self.root / name
            if path.is_symlink() and os.readlink(path) == f"{CURRENT}/{name}":
                continue
            if path.is_symlink() or path.exists():
                raise ShopscaleError(
                    f"{path}: not a shopscale result link; move it away so the results can "
                    "be published there"
                )

    def _link(self, name: str, target: str) -> None:
        """Point ``root/name`` at ``target`` with one atomic rename (no-op if it already does)."""
        path = self.root / name
        if path.is_symlink() and os.readlink(path) == target:
            return
        tmp = self.root / f"{LINK_PREFIX}{os.getpid()}-{name}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(target, tmp)
        os.replace(tmp, path)

    def _remove_stale_links(self, names: list[str]) -> None:
        """Remove result links to names the published version does not have."""
        for path in self.root.iterdir():
            if path.name in names or not path.is_symlink():
                continue
            if os.readlink(path) == f"{CURRENT}/{path.name}":
                path.unlink()

    # -- housekeeping ------------------------------------------------------------------------

    def _sweep(self) -> None:
        """Remove what killed runs left (we hold the lock, so no live run owns any of it)."""
        roots = [self.root, self._versions_dir]
        for base in roots:
            if not base.is_dir():
                continue
            for path in base.iterdir():
                if path.name.startswith((STAGING_PREFIX, TRASH_PREFIX)) and not path.is_symlink():
                    log.info("removing %s, left by a run that was killed", path)
                    remove_paced(path, ignore_errors=True)
                elif path.name.startswith(_LEFTOVER_FILES) or _PARTIAL.match(path.name):
                    path.unlink()
        self._relink_migrated()

    def _prune(self) -> None:
        """Keep the current version and the newest others, ``keep`` in all."""
        current = self._current_id()
        ids = self._ids()
        kept = {current} if current else set()
        for vid in reversed(ids):
            if len(kept) >= self.keep:
                break
            kept.add(vid)
        for vid in ids:
            if vid in kept:
                continue
            if leased(self._versions_dir / vid):
                log.info("keeping old version %s: a reader maps it (the next run prunes it)", vid)
                continue
            trash = self._versions_dir / f"{TRASH_PREFIX}{vid}"
            try:
                os.rename(self._versions_dir / vid, trash)
                fault_point("prune")
                remove_paced(trash)
            except OSError as err:  # the new version is published; the next run retries
                log.warning("could not remove old version %s: %s", vid, err)

    def _migrate(self) -> None:
        """Turn an unversioned results folder (real files, a summary.json) into version one."""
        if self.root.joinpath(CURRENT).is_symlink():
            return
        marker = self.root / LEGACY_MARKER
        if marker.is_symlink() or not marker.is_file():
            return
        files = [
            p
            for p in sorted(self.root.iterdir())
            if not p.name.startswith(".") and p.is_file() and not p.is_symlink()
        ]
        vid = self._next_id()
        staging = self.root / f"{STAGING_PREFIX}{vid}"
        staging.mkdir()
        for path in files:
            try:
                os.link(path, staging / path.name)
            except OSError:
                shutil.copy2(path, staging / path.name)
        _fsync_tree(staging)
        self._versions_dir.mkdir(exist_ok=True)
        os.rename(staging, self._versions_dir / vid)
        _fsync_dir(self._versions_dir)
        self._link(CURRENT, f"{VERSIONS}/{vid}")
        _fsync_dir(self.root)
        self._relink_migrated()
        log.info("moved the unversioned results in %s into version %s", self.root, vid)

    def _relink_migrated(self) -> None:
        """Replace top-level real files that are the current version's own files by links."""
        current = self.current()
        if current is None:
            return
        for path in self.root.iterdir():
            twin = current / path.name
            if path.name.startswith(".") or path.is_symlink() or not path.is_file():
                continue
            if twin.is_file() and os.path.samefile(path, twin):
                self._link(path.name, f"{CURRENT}/{path.name}")

    # -- ids and the lock --------------------------------------------------------------------

    def _ids(self) -> list[str]:
        """Ids of the complete versions, oldest first."""
        if not self._versions_dir.is_dir():
            return []
        return sorted(p.name for p in self._versions_dir.iterdir() if _ID.match(p.name))

    def _current_id(self) -> str | None:
        """The id ``current`` points at, or None."""
        try:
            target = os.readlink(self.root / CURRENT)
        except OSError:
            return None
        vid = Path(target).name
        return vid if _ID.match(vid) else None

    def _next_id(self) -> str:
        """A new id, after every existing one."""
        ids = self._ids()
        seq = int(_ID.match(ids[-1]).group(1)) + 1 if ids else 1  # type: ignore[union-attr]
        return f"{seq:06d}-{time.strftime(_TIME_FORMAT, time.gmtime())}"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold ``OUT/.lock`` (flock, pid written in it), or fail at once naming its holder."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise ShopscaleError(
                    f"{self.root}: another shopscale run (pid {holder}) is writing here; "
                    "wait for it to finish or write elsewhere"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)


def hold_lease(folder: Path) -> int:
    """Take a shared lease on ``folder`` (``LEASE`` in it, created if missing): the returned
    descriptor holds it until closed (or the process ends)."""
    fd = os.open(folder / LEASE, os.O_RDONLY | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def leased(version: Path) -> bool:
    """Whether any process holds a lease on a folder of ``version`` (``hold_lease``)."""
    for path in version.rglob(LEASE):
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the probe's own lock
    return False


def check_writable(root: Path) -> None:
    """Up front: ``root`` is a folder (or can be made one) we can write, else one-line error."""
    root = Path(root)
    probe = root
    if root.exists():
        if not root.is_dir():
            raise ShopscaleError(f"{root}: exists and is not a folder")
    else:
        probe = root.absolute().parent
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise ShopscaleError(f"{root}: cannot be created, {probe} is not a folder")
    try:
        fd, name = tempfile.mkstemp(prefix=".shopscale-probe-", dir=probe)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as err:
        raise ShopscaleError(f"{root}: cannot write there ({err.strerror or err})") from None


def _names(folder: Path) -> list[str]:
    """Top-level entry names of a version that get a link in OUT (hidden ones do not), sorted."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _created(vid: str) -> datetime:
    """The creation time written in a version id."""
    match = _ID.match(vid)
    assert match is not None
    return datetime.strptime(match.group(2), _TIME_FORMAT).replace(tzinfo=UTC)


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries (creations, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (files first, then their folders)."""
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))
