"""The read + validate stage on Spark: one task per input file runs the local engine's reader
(``tasks.read_files``), so every rule, line number and reason is the local engine's own.

Each task writes its file's accepted events to a Parquet file in a scratch folder (DuckDB's
writer, on the task's threads), which Spark reads back with its own reader, in parallel. The
rows the tasks give are small and collected to the driver: per file, its rejects, its counts,
its content hash, its distinct items and actions, and a sample of its user ids (encode's
dictionaries and user ranges come from these, with no scan of their own). Untimed files get
their file-order times here: a file's first row continues the previous files' rows, as the
local reader numbers them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from shopscale.engine.base import ReadCounts
from shopscale.engine.local.reader import REJECTS_SCHEMA
from shopscale.engine.spark.frames import ddl, java_message, uri
from shopscale.engine.spark.tasks import (
    ACTION,
    ERROR,
    EVENT,
    FILE,
    ITEM,
    READ_SCHEMA,
    REJECT,
    SKIPPED,
    USER_SAMPLE,
    read_files,
    read_uris,
)
from shopscale.errors import InputError
from shopscale.events import EventsParams
from shopscale.log import get_logger

log = get_logger("engine.spark.read")
EVENT_COLUMNS = ("user_id", "action", "item_id", "t")


@dataclass
class SparkRead:
    """What reading leaves: the counts for the pipeline, the accepted events as a Spark
    DataFrame (user_id, action, item_id, t), and each input's name and content hash."""

    counts: ReadCounts
    events: Any
    hashes: list[dict[str, object]]
    positions: int
    items: pa.Array
    """Every accepted event's item id, once (in no particular order)."""
    actions: list[str]
    """Every accepted event's action, once, in string order."""
    user_sample: tuple[pa.Array, npt.NDArray[np.float64]]
    """Some user ids and how many events each stands for (cuts users into ranges)."""


def read(
    spark: Any,
    paths: Sequence[Path],
    params: EventsParams,
    scratch: Path | None,
    keep: Callable[[Any], Any] = lambda df: df,
) -> SparkRead:
    """Read and validate every file on the executors; raise the first unusable file's error
    (in path order, as the local engine meets it). The accepted events are written to
    ``scratch`` as Parquet (one file per input) and read back by Spark; without a scratch
    folder (none that every executor writes at the same path) they come back as rows of the
    read tasks, kept by Spark (``keep`` persists them) while the job runs."""
    from pyspark.sql import functions as F  # noqa: N812

    bounds = params.time_bounds(time.time())
    out = None if scratch is None else str(scratch)
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    specs = list(getattr(paths, "uris", []))
    listed = list_uris(spark, specs) if specs else []
    names = [name for name, _ in listed] if specs else [str(p) for p in paths]
    # fewer files than task slots: each read task may use the slots no other file takes
    threads = max(1, spark.sparkContext.defaultParallelism // max(1, len(names)))
    if specs:
        numbers = {name: (n, found) for n, (name, found) in enumerate(listed)}
        task = partial(
            read_uris,
            params=params,
            bounds=bounds,
            out=out,
            numbers=numbers,
            threads=threads,
        )
        files = spark.read.format("binaryFile").load(names).select("path", "content")
    else:
        listed_local = [(n, str(Path(p).absolute())) for n, p in enumerate(paths)]
        files = spark.sparkContext.parallelize(listed_local, max(1, len(listed_local))).toDF(
            "file int, path string"
        )
        task = partial(read_files, params=params, bounds=bounds, out=out, threads=threads)
    rows = files.mapInArrow(task, ddl(READ_SCHEMA))
    if scratch is None:
        rows = keep(rows)
    info_columns = [c for c in READ_SCHEMA.names if c not in EVENT_COLUMNS]
    info = rows.filter(F.col("kind") != EVENT).select(*info_columns).toArrow()
    _raise_first_error(info, names)
    stats = info.filter(pc.equal(info.column("kind"), FILE)).sort_by("file").to_pylist()
    if not stats:
        raise InputError(str((specs or names)[0]), "no input files of a known type")
    offsets, seq = {}, 0
    for stat in stats:
        if not stat["timed"]:
            offsets[int(stat["file"])] = seq
        seq += int(stat["rows"])
    if scratch is None:
        events = rows.filter(F.col("kind") == EVENT).select("file", *EVENT_COLUMNS)
    else:
        parts = (uri(scratch / f"{int(s['file']):06d}.parquet") for s in stats)
        events = spark.read.parquet(*parts)
    if offsets:
        table = spark.createDataFrame(list(offsets.items()), "file int, offset long")
        events = events.join(F.broadcast(table), "file", "left").withColumn(
            "t", F.col("t") + F.coalesce(F.col("offset"), F.lit(0))
        )
    skipped: list[tuple[str | Path, str]] = list(getattr(paths, "skipped", ()))
    for row in info.filter(pc.equal(info.column("kind"), SKIPPED)).sort_by("file").to_pylist():
        log.warning("skipping %s: %s", names[int(row["file"])], row["reason"])
        skipped.append((names[int(row["file"])], str(row["reason"])))
    counts = _counts(info, stats, names, skipped)
    hashes = [{"file": names[int(s["file"])], "sha256": s["sha256"]} for s in stats]
    return SparkRead(
        counts,
        events.select("user_id", "action", "item_id", "t"),
        hashes,
        seq,
        items=pc.unique(_ids(info, ITEM)),
        actions=sorted(pc.unique(_ids(info, ACTION)).to_pylist()),
        user_sample=_user_sample(info, stats),
    )


def _ids(info: pa.Table, kind: int) -> pa.Array:
    """The ids the read tasks gave as rows of ``kind``."""
    return info.filter(pc.equal(info.column("kind"), kind)).column("row").combine_chunks()


def _user_sample(
    info: pa.Table, stats: list[dict[str, Any]]
) -> tuple[pa.Array, npt.NDArray[np.float64]]:
    """Each file's sampled user ids, weighted by the events each stands for in its file."""
    rows = {int(s["file"]): int(s["rows"]) for s in stats}
    sample = info.filter(pc.equal(info.column("kind"), USER_SAMPLE))
    file = sample.column("file").to_numpy()
    sizes = np.bincount(file, minlength=max(rows, default=0) + 1)
    weight = np.array([rows.get(int(f), 0) for f in file], dtype=np.float64) / sizes[file]
    return sample.column("row").combine_chunks(), weight


def list_uris(spark: Any, specs: Sequence[str]) -> list[tuple[str, bool]]:
    """The files URIs name, through Spark's (Hadoop's) file systems, as ``resolve_inputs``
    expands local paths: a folder is every file below it (names starting with ``.`` or ``_``
    left out, path order), a pattern its matches in order, a file read once however often it
    is reached. Each file comes with whether a folder or pattern found it (then a file of
    unknown type is skipped instead of failing). Fails in one line naming the URI."""
    from py4j.protocol import Py4JJavaError

    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    listed: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for spec in specs:
        pattern = any(ch in spec for ch in "*?[{")
        try:
            path = jvm.org.apache.hadoop.fs.Path(spec)
            fs = path.getFileSystem(conf)
            matches = fs.globStatus(path) or []
            files: list[tuple[str, int, bool]] = []
            for status in matches:
                if status.isDirectory():
                    below = _folder_files(fs, status.getPath())
                    if not below and not pattern:
                        raise InputError(spec, "folder has no input files")
                    files += below
                else:
                    files.append((status.getPath().toString(), status.getLen(), pattern))
        except Py4JJavaError as err:
            raise InputError(spec, f"cannot list: {java_message(err)}") from None
        if not files:
            why = "no file matches this pattern" if pattern else "no such file or folder"
            raise InputError(spec, why)
        for name, size, found in files:
            if name in seen:
                log.warning("%s is reached twice: read once", name)
                continue
            if size > MAX_FILE_BYTES:
                raise InputError(
                    name,
                    "is larger than 2 GiB: Spark's file systems hand a task a file whole; "
                    "split the log into smaller files",
                )
            seen.add(name)
            listed.append((name, found))
    return listed


MAX_FILE_BYTES = 2**31 - 1
"""Largest file read through Spark's file systems (``binaryFile`` gives a file as one value)."""


def _folder_files(fs: Any, folder: Any) -> list[tuple[str, int, bool]]:
    """Every file below a folder (not hidden: no ``.`` or ``_`` name), in path order."""
    found = []
    it = fs.listFiles(folder, True)
    while it.hasNext():
        status = it.next()
        if not status.getPath().getName().startswith((".", "_")):
            found.append((status.getPath().toString(), status.getLen(), True))
    return sorted(found)


def _raise_first_error(info: pa.Table, names: Sequence[str]) -> None:
    """The error of the first unusable file, as the local reader would raise it."""
    errors = info.filter(pc.equal(info.column("kind"), ERROR)).sort_by("file").to_pylist()
    if errors:
        first = errors[0]
        line = first["line"]
        raise InputError(names[int(first["file"])], str(first["reason"]), line)


def _counts(
    info: pa.Table,
    stats: list[dict[str, Any]],
    paths: Sequence[str],
    skipped: Sequence[tuple[str | Path, str]],
) -> ReadCounts:
    """Rows read = accepted + rejected, per file and in total; rejects by (file, line)."""
    rejects = info.filter(pc.equal(info.column("kind"), REJECT)).to_pylist()
    per_file: dict[int, int] = {}
    found = []
    for r in rejects:
        per_file[int(r["file"])] = per_file.get(int(r["file"]), 0) + 1
        found.append((str(paths[int(r["file"])]), int(r["line"]), str(r["reason"]), r["row"] or ""))
    found.sort(key=lambda r: (r[0], r[1]))
    table = pa.table(
        [
            pa.array(list(c), t.type)
            for c, t in zip(zip(*found, strict=True), REJECTS_SCHEMA, strict=True)
        ]
        if found
        else [pa.array([], t.type) for t in REJECTS_SCHEMA],
        schema=REJECTS_SCHEMA,
    )
    read_total = sum(int(s["rows"]) for s in stats)
    files: list[dict[str, object]] = [
        {
            "file": str(paths[int(s["file"])]),
            "rows_read": int(s["rows"]),
            "rejected": per_file.get(int(s["file"]), 0),
        }
        for s in stats
    ]
    for path, why in skipped:
        files.append({"file": str(path), "rows_read": 0, "rejected": 0, "skipped": why})
    return ReadCounts(
        rows_read=read_total,
        accepted=read_total - len(found),
        rejected=len(found),
        rejects=table,
        timed=all(bool(s["timed"]) for s in stats),
        files=files,
    )
