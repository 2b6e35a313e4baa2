"""Results published as whole versions on a Hadoop file system (``--out hdfs://...``,
``s3a://``, ``viewfs://``...), where the local store's links and ``flock`` do not exist.

Layout of an output ``OUT`` (a URI)::

    OUT/CURRENT                 the published version's id (one line), replaced in one step
    OUT/.versions/<id>/         one complete version per run
    OUT/.staging-<id>/          the version being written (a killed run's is swept a day later)

A run writes its executors' parts straight into ``.staging-<id>`` (Spark's writer) and the
driver's small files into a local folder; at the end the driver copies those in, renames the
staging folder into ``.versions`` and replaces ``CURRENT`` (written beside it, then renamed
over it: atomic on HDFS; on object stores such as S3 a whole object appears at once). A
reader reads ``CURRENT`` once and then everything from ``.versions/<id>/``, so it sees the
whole old version or the whole new one. There is no lock: one writer per output (two at once
each publish a whole version; the later ``CURRENT`` wins, or the second rename fails).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shopscale.engine.spark.frames import java_message
from shopscale.errors import InputError
from shopscale.log import get_logger
from shopscale.store.versions import _ID, _TIME_FORMAT, STAGING_PREFIX, VERSIONS

log = get_logger("engine.spark.publish")

CURRENT_FILE = "CURRENT"
STALE_STAGING_S = 24 * 3600
"""A staging folder older than this is a killed run's and is removed by the next run."""


class HadoopVersions:
    """Versions of one output folder on a Hadoop file system, through the Spark session's
    JVM (the driver's ``FileSystem``; executors write through Spark's own writer)."""

    def __init__(self, spark: Any, root: str, *, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.root = root.rstrip("/")
        self.keep = keep
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = self._call(lambda: self._path(self.root).getFileSystem(self._conf))

    def _path(self, where: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(where)

    def _call(self, fn: Any) -> Any:
        """``fn()``; a Java error becomes one line naming the output."""
        from py4j.protocol import Py4JJavaError

        try:
            return fn()
        except Py4JJavaError as err:
            raise InputError(self.root, f"cannot write: {java_message(err)}") from None

    def check_writable(self) -> None:
        """Create the folder and a probe file in it, then remove the probe: fail now, in one
        line, where the run would fail at its end."""
        probe = self._path(f"{self.root}/.probe-{time.time_ns()}")

        def run() -> None:
            self._fs.mkdirs(self._path(self.root))
            self._fs.create(probe, False).close()
            self._fs.delete(probe, False)

        self._call(run)

    def ids(self) -> list[str]:
        """Ids of the complete versions, oldest first."""
        return [name for name, _ in self._children(f"{self.root}/{VERSIONS}") if _ID.match(name)]

    def version_uri(self, vid: str) -> str:
        """Where version ``vid`` lives."""
        return f"{self.root}/{VERSIONS}/{vid}"

    @contextlib.contextmanager
    def new_version(self) -> Iterator[tuple[Path, str, str]]:
        """Yield a local folder for the driver's files, the staging URI the executors write
        into and the URI the version will have; on normal exit publish both as that one new
        version and prune to ``keep``; on any exception remove both and leave the published
        version as it was."""
        self.check_writable()
        self._sweep()
        ids = self.ids()
        seq = int(_ID.match(ids[-1]).group(1)) + 1 if ids else 1  # type: ignore[union-attr]
        vid = f"{seq:06d}-{time.strftime(_TIME_FORMAT, time.gmtime())}"
        staging = f"{self.root}/{STAGING_PREFIX}{vid}"
        local = Path(tempfile.mkdtemp(prefix="shopscale-driver-"))
        try:
            self._call(lambda: self._fs.mkdirs(self._path(staging)))
            yield local, staging, self.version_uri(vid)
            self._upload(local, staging)
            self._publish(staging, vid)
        except BaseException:
            with contextlib.suppress(Exception):
                self._fs.delete(self._path(staging), True)
            raise
        finally:
            shutil.rmtree(local, ignore_errors=True)
        self._prune(vid)

    def _upload(self, local: Path, staging: str) -> None:
        """Copy the driver's files into the staging folder (beside the executors' parts)."""
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            dest = f"{staging}/{path.relative_to(local).as_posix()}"
            self._call(
                lambda p=path, d=dest: self._fs.copyFromLocalFile(
                    False, True, self._path(p.absolute().as_uri()), self._path(d)
                )
            )

    def _publish(self, staging: str, vid: str) -> None:
        """Rename the staging folder into ``.versions``, then replace ``CURRENT``."""
        target = self.version_uri(vid)

        def run() -> None:
            self._fs.mkdirs(self._path(f"{self.root}/{VERSIONS}"))
            if not self._fs.rename(self._path(staging), self._path(target)):
                raise InputError(self.root, f"cannot publish: renaming {staging} failed")
            tmp = self._path(f"{self.root}/.{CURRENT_FILE}-{vid}")
            stream = self._fs.create(tmp, True)
            try:
                stream.write(f"{vid}\n".encode())
            finally:
                stream.close()
            context = self._jvm.org.apache.hadoop.fs.FileContext.getFileContext(
                self._path(self.root).toUri(), self._conf
            )
            rename = self._jvm.org.apache.hadoop.fs.Options.Rename
            overwrite = _java_array(rename, [rename.OVERWRITE])
            context.rename(tmp, self._path(f"{self.root}/{CURRENT_FILE}"), overwrite)

        self._call(run)
        log.info("published %s", target)

    def _prune(self, current: str) -> None:
        """Remove the oldest versions beyond ``keep`` (never the published one)."""
        ids = [vid for vid in self.ids() if vid != current]
        for vid in ids[: max(0, len(ids) - (self.keep - 1))]:
            self._call(lambda v=vid: self._fs.delete(self._path(self.version_uri(v)), True))

    def _sweep(self) -> None:
        """Remove staging folders of runs killed more than a day ago."""
        now_ms = time.time() * 1000
        for name, modified in self._children(self.root):
            if name.startswith(STAGING_PREFIX) and now_ms - modified > STALE_STAGING_S * 1000:
                log.info("removing %s/%s (a run killed before it published)", self.root, name)
                self._call(lambda n=name: self._fs.delete(self._path(f"{self.root}/{n}"), True))

    def _children(self, folder: str) -> list[tuple[str, int]]:
        """Names and modification times (ms) of a folder's entries, sorted; none if absent."""

        def run() -> list[tuple[str, int]]:
            path = self._path(folder)
            if not self._fs.exists(path):
                return []
            return sorted(
                (str(s.getPath().getName()), int(s.getModificationTime()))
                for s in self._fs.listStatus(path)
            )

        return self._call(run)


def _java_array(cls: Any, values: list[Any]) -> Any:
    """A Java array of ``cls`` holding ``values`` (a varargs argument through py4j)."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    assert gateway is not None
    array = gateway.new_array(cls, len(values))
    for n, value in enumerate(values):
        array[n] = value
    return array
