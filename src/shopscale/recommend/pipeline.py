"""The recommendation job, stage order defined once: read -> validate -> encode -> map ->
reduce -> rank -> write. Engines implement the stages (``engine.base.Engine``); this module
only sequences them, times them, checks the reject budget and publishes the outputs.

Every output of a run (recommendations, similar items, the default SQLite file, rejects.csv,
summary.json) is written into one staging version of the output folder and published with a
single atomic switch (``store.versions``): a reader sees the whole previous result or the
whole new one. The output folder and the database are checked before any input is read.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shopscale.config import check_fields
from shopscale.engine import get_engine
from shopscale.engine.base import (
    PLAIN,
    RECOMMENDATIONS_SCHEMA,
    SIMILAR_ITEMS_SCHEMA,
    STATISTICS,
    Engine,
    Output,
    Written,
)
from shopscale.errors import ConfigError, InputError, ShopscaleError
from shopscale.events import EventsParams, resolve_inputs
from shopscale.log import get_logger, report_progress, timed
from shopscale.recommend.params import DECAYS, RecommendParams
from shopscale.store.background import BackgroundLoad
from shopscale.store.faults import fault_point
from shopscale.store.files import (
    FileFormat,
    output_name,
    read_batches,
    write_batches,
    write_json,
    write_table,
)
from shopscale.store.paths import output_folder, output_uri
from shopscale.store.sql import SqlUrl, StoreError, parse_url
from shopscale.store.versions import VersionedFolder, check_writable

log = get_logger("recommend.pipeline")

STAGES = ("read", "validate", "encode", "map", "model", "reduce", "rank", "write")
RECOMMENDATIONS = "recommendations"
SQLITE_NAME = "shopscale.sqlite"
SIMILAR_ITEMS = "similar_items"
REJECTS = "rejects.csv"
SUMMARY = "summary.json"
MODEL_DIR = "model"
"""Folder of a version reserved for the persistent model state (written by its own job)."""
FAILED_DIR = "last-failed"
"""Outside every version: the rejects.csv of a run that failed on the reject budget."""
PG_CHECK_TIMEOUT_S = 3


@dataclass(frozen=True)
class OutputParams:
    """Where and how results are written (the ``[output]`` TOML section)."""

    format: FileFormat = "parquet"
    """Format of the recommendations file (similar items are always Parquet)."""
    db: str | None = "none"
    """An SQL export a user asks for: ``sqlite`` (a shopscale.sqlite in the output folder), a
    ``sqlite:///`` or ``postgresql://`` URL, or ``none`` (the default: most users read the
    Parquet files, and a database load is time nobody asked for)."""
    keep_versions: int = 3
    """Published versions kept in the output folder (the current one included), >= 1."""

    def __post_init__(self) -> None:
        check_fields(self)  # types, Literal choices, finite floats, 64-bit ints
        if self.format not in ("parquet", "csv", "jsonl"):
            raise ValueError(f"format must be parquet, csv or jsonl, got {self.format!r}")
        if self.keep_versions < 1:
            raise ValueError(f"keep_versions must be at least 1, got {self.keep_versions}")

    def db_url(self, out: Path) -> str | None:
        """The database URL to load, or None when disabled (the default SQLite file is named
        by its stable path in ``out``, which follows the published version)."""
        if self.db is None or self.db == "none":
            return None
        if self.db == "sqlite":
            return f"sqlite:///{Path(os.path.abspath(out)) / SQLITE_NAME}"
        return self.db


@dataclass
class RunSummary:
    """What a run did, for the screen and ``summary.json``."""

    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    users: int = 0
    items: int = 0
    actions: list[str] = field(default_factory=list)
    interactions: int = 0
    recommendations: int = 0
    similar_items: int = 0
    users_with_model_recs: int = 0
    engine: str = "local"
    seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    files: list[dict[str, object]] = field(default_factory=list)
    half_life_days: float | None = None
    """The time decay applied (None: off, or no timestamps in the input)."""
    half_life_events: float | None = None
    """The sequence decay applied (None: off, or no timestamps in the input)."""
    model: dict[str, Any] = field(default_factory=dict)
    """Every ``[recommend]`` setting as run (decays already off without timestamps): fed
    back as the ``[recommend]`` section, it reproduces the run."""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def effective_params(params: RecommendParams, *, timed: bool) -> RecommendParams:
    """The model as run: time and sequence decay need real timestamps, so without them they
    are off (file order need not be the order events happened in)."""
    if not timed and any(getattr(params, name) for name in DECAYS):
        log.info("the input has no timestamps (times are file order): decay is off")
        off: dict[str, Any] = dict.fromkeys(DECAYS)
        return replace(params, **off)
    return params


def check_rejects(rows_read: int, rejected: int, max_ratio: float, rejects_path: Path) -> None:
    """Fail the run when more than ``max_ratio`` of the rows were rejected."""
    if rows_read == 0:
        raise InputError(None, "no rows in the input")
    ratio = rejected / rows_read
    if ratio > max_ratio:
        raise InputError(
            None,
            f"{rejected:,} of {rows_read:,} rows rejected ({ratio:.2%}), more than the allowed "
            f"{max_ratio:.2%} (--max-reject-ratio); see {rejects_path}",
        )
    if rows_read == rejected:
        raise InputError(None, f"every row was rejected; see {rejects_path}")


def run(
    inputs: str | Path | Sequence[str | Path],
    *,
    out: str | Path,
    engine: str = "local",
    events: EventsParams | None = None,
    params: RecommendParams | None = None,
    output: OutputParams | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    engine_options: dict[str, object] | None = None,
) -> RunSummary:
    """Run the whole job on ``inputs`` and publish every output under ``out`` as one version.

    ``engine_options`` go to the engine (local: ``threads``, ``memory_limit`` such as "4GB").
    """
    events = events or EventsParams()
    params = params or RecommendParams()
    output = output or OutputParams()
    uri = output_uri(out)
    if uri is not None:
        return _run_to_uri(inputs, uri, engine, events, params, output, progress, engine_options)
    out = output_folder(out)
    paths = resolve_inputs(inputs, uris=engine == "spark")
    check_output(out, output)
    folder = VersionedFolder(out, keep=output.keep_versions)
    summary = RunSummary(engine=engine)
    options = dict(engine_options or {})
    if engine == "spark":  # read events are kept beside the versions; a killed run's are swept
        options.setdefault("scratch", out)
    eng = get_engine(engine, progress=progress, **options)
    try:
        with folder.new_version() as staging:
            _run_stages(eng, paths, events, params, output, out, staging, summary)
            shutil.rmtree(out / FAILED_DIR, ignore_errors=True)  # an earlier failure's rejects
    except OSError as err:  # a full disk, a file size limit, a folder made read-only
        where = err.filename or out
        raise ShopscaleError(f"{where}: cannot write the results ({err.strerror or err})") from err
    finally:
        eng.close()
    return summary


def _run_to_uri(
    inputs: str | Path | Sequence[str | Path],
    uri: str,
    engine: str,
    events: EventsParams,
    params: RecommendParams,
    output: OutputParams,
    progress: Callable[[str, int, int], None] | None,
    engine_options: dict[str, object] | None,
) -> RunSummary:
    """The job with its outputs published on a Hadoop file system (``--out hdfs://...``):
    the executors write their parts there, the driver its small files, and one new version
    is published (``engine/spark/publish.py``)."""
    if engine != "spark":
        raise InputError(uri, "an output URI is written by the Spark engine only (--engine spark)")
    if output.db not in (None, "none"):
        raise ConfigError("--db", "db", "a SQL export reads the outputs from a folder --out")
    if output.format != "parquet":
        raise ConfigError("--format", "format", "an output URI is written as Parquet only")
    from shopscale.engine.spark.publish import HadoopVersions
    from shopscale.engine.spark.recommend import SparkEngine

    paths = resolve_inputs(inputs, uris=True)
    summary = RunSummary(engine=engine)
    eng = get_engine(engine, progress=progress, **dict(engine_options or {}))
    assert isinstance(eng, SparkEngine)
    # a run that fails on the reject budget keeps its rejects.csv on this machine
    failed = Path(tempfile.gettempdir()) / "shopscale-rejects"
    failed.mkdir(parents=True, exist_ok=True)
    try:
        folder = HadoopVersions(eng.spark, uri, keep=output.keep_versions)
        with folder.new_version() as (local, staging, published):
            eng.publish_to(local, staging)
            _run_stages(eng, paths, events, params, output, failed, local, summary, published)
    finally:
        eng.close()
    return summary


def check_output(out: Path, output: OutputParams) -> None:
    """Before any input is read: the output folder is writable and the database usable."""
    check_writable(out)
    if output.db in (None, "none", "sqlite"):
        return
    target = parse_url(output.db)
    if target.dialect == "sqlite":
        path = Path(target.target)
        if path.is_dir():
            raise ConfigError(target.display, "db", f"{path} is a folder, not a database file")
        if not path.absolute().parent.is_dir():
            reason = f"folder {path.absolute().parent} does not exist"
            raise ConfigError(target.display, "db", reason)
        check_writable(path.absolute().parent)
        return
    _check_postgres(target)


def _check_postgres(target: SqlUrl) -> None:
    """Connect once with a short timeout, so an unreachable server fails before the job."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    options: dict[str, Any] = {}
    if "connect_timeout" not in conninfo_to_dict(target.target):
        options["connect_timeout"] = PG_CHECK_TIMEOUT_S
    try:
        psycopg.connect(target.target, **options).close()
    except psycopg.Error as err:
        raise target.error(f"cannot connect to PostgreSQL: {err}") from None


def _run_stages(
    eng: Engine,
    paths: list[Path],
    events: EventsParams,
    params: RecommendParams,
    output: OutputParams,
    out: Path,
    staging: Path,
    summary: RunSummary,
    published: str | None = None,
) -> None:
    """Read, encode, map, then reduce/rank/write into ``staging``; summary.json last. Outputs
    are named in ``out``, or in the URI ``published`` where the version will be."""
    timed_input = _read(eng, paths, events, out, staging, summary)
    params = effective_params(params, timed=timed_input)
    summary.half_life_days = params.half_life_days or None
    summary.half_life_events = params.half_life_events or None
    summary.model = asdict(params)
    with timed(log, "encode", summary.seconds):
        sizes = eng.encode(params)
    summary.users, summary.items = sizes.users, sizes.items
    summary.interactions, summary.actions = sizes.interactions, list(sizes.actions)
    fault_point("after:encode")
    with timed(log, "map", summary.seconds):
        eng.map(params)
    fault_point("after:map")
    with _model_written(eng, staging / MODEL_DIR, params, summary.seconds):
        loader = _start_db_load(output, out, staging)
        try:
            rec_name, sim_name = _reduce_rank_write(
                eng, params, output, out, staging, summary, loader
            )
        except StoreError as err:
            if loader is not None:
                loader.abort(err)
            if output.db != "sqlite":
                raise
            # the default file is built in the staging folder: name it where users look for it
            reason = err.reason.replace(str(staging), str(out))
            raise StoreError(f"sqlite:///{out / SQLITE_NAME}", reason) from err
        except BaseException as exc:
            if loader is not None:
                loader.abort(exc)
            raise
    for key, name in (("recommendations", rec_name), ("similar_items", sim_name)):
        summary.outputs[key] = _named(out, published, name)
    summary.outputs[MODEL_DIR] = _named(out, published, MODEL_DIR)
    summary.outputs["rejects"] = _named(out, published, REJECTS)
    summary.outputs["summary"] = _named(out, published, SUMMARY)
    _write_summary(staging / SUMMARY, summary)


@contextmanager
def _model_written(
    eng: Engine, folder: Path, params: RecommendParams, seconds: dict[str, float]
) -> Iterator[None]:
    """Write the model state around the block: on a thread beside it where the engine allows
    (``Engine.model_beside_reduce``: the write is mostly disk time, the reduce and rank mostly
    cores), else before it. ``seconds["model"]`` is the time the run spent waiting for it."""
    if not eng.model_beside_reduce:
        with timed(log, "model", seconds):
            eng.write_model(folder, params)
        yield
        return

    def write() -> None:
        start = time.perf_counter()
        eng.write_model(folder, params)
        log.info(
            "model state written in %.2f s, beside reduce and rank", time.perf_counter() - start
        )

    with ThreadPoolExecutor(1, thread_name_prefix="write-model") as pool:
        written = pool.submit(write)
        try:
            yield
        except BaseException:
            wait([written])  # it reads the engine's state: done before the engine closes
            raise
        with timed(log, "model", seconds):
            written.result()


def _named(out: Path, published: str | None, name: str) -> str:
    """Where a published output is read: in the folder ``out``, or in the version URI."""
    return f"{published}/{name}" if published else str(out / name)


def _read(
    eng: Engine,
    paths: list[Path],
    events: EventsParams,
    out: Path,
    staging: Path,
    summary: RunSummary,
) -> bool:
    """Read and validate; stage rejects.csv; apply the reject budget. True if timed input."""
    with timed(log, "read+validate", summary.seconds):
        counts = eng.read(paths, events)
    summary.rows_read, summary.accepted = counts.rows_read, counts.accepted
    report_progress("read+validate", counts.rows_read, counts.rows_read)
    summary.rejected, summary.files = counts.rejected, counts.files
    log.info(
        "read %s rows: %s accepted, %s rejected",
        f"{counts.rows_read:,}",
        f"{counts.accepted:,}",
        f"{counts.rejected:,}",
    )
    fault_point("after:read")
    write_table(staging / REJECTS, counts.rejects, "csv")
    kept = out / FAILED_DIR / REJECTS
    try:
        check_rejects(counts.rows_read, counts.rejected, events.max_reject_ratio, kept)
    except InputError:
        # the published result stays as it was; the rejects the message names live outside it
        kept.parent.mkdir(exist_ok=True)
        os.replace(staging / REJECTS, kept)
        raise
    return bool(counts.timed)


def _write_summary(path: Path, summary: RunSummary) -> None:
    """Write summary.json; a non-finite number in it is a bug, reported by its key."""
    doc = summary.to_dict()
    bad = _non_finite(doc)
    if bad:
        raise ShopscaleError(f"{path.name}: {bad} is not a finite number; nothing was published")
    write_json(path, doc)


def _non_finite(value: object, where: str = "") -> str | None:
    """The dotted key of the first NaN or infinity in a JSON-like value, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} = {value}"
    items: list[tuple[str, object]] = []
    if isinstance(value, dict):
        items = [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(f"{where}[{i}]", v) for i, v in enumerate(value)]
    for key, item in items:
        found = _non_finite(item, key)
        if found:
            return found
    return None


def _start_db_load(output: OutputParams, out: Path, staging: Path) -> BackgroundLoad | None:
    """Start loading the database beside the last stages (the default SQLite file is built
    inside the staging version, so it is published together with the files)."""
    url = output.db_url(out)
    if url is None:
        return None
    if output.db == "sqlite":
        url = f"sqlite:///{Path(os.path.abspath(staging)) / SQLITE_NAME}"
    return BackgroundLoad(
        url, {SIMILAR_ITEMS: SIMILAR_ITEMS_SCHEMA, RECOMMENDATIONS: RECOMMENDATIONS_SCHEMA}
    )


def _reduce_rank_write(
    eng: Engine,
    params: RecommendParams,
    output: OutputParams,
    out: Path,
    staging: Path,
    summary: RunSummary,
    loader: BackgroundLoad | None,
) -> tuple[str, str]:
    """Reduce, rank and write: files into staging, the database alongside; the names of the
    recommendations and the similar items."""
    t = summary.seconds
    sim_path = staging / output_name(SIMILAR_ITEMS, "parquet")
    rec_path = staging / output_name(RECOMMENDATIONS, "parquet")
    with timed(log, "reduce", t):
        sims = eng.reduce(params, sim_path)
        summary.similar_items = _write(sims, sim_path, SIMILAR_ITEMS, SIMILAR_ITEMS_SCHEMA, loader)
    fault_point("after:reduce")
    with timed(log, "rank", t):
        recs = eng.rank(params, rec_path)
        if isinstance(recs, Written):
            summary.users_with_model_recs += recs.model_users
        else:
            recs = count_model_users(recs, summary)
        summary.recommendations = _write(
            recs, rec_path, RECOMMENDATIONS, RECOMMENDATIONS_SCHEMA, loader
        )
    fault_point("after:rank")
    with timed(log, "write", t):
        if loader is not None:
            loader.finish()
            summary.outputs["db"] = output.db_url(out) or ""
        if output.format != "parquet":
            converted = staging / output_name(RECOMMENDATIONS, output.format)
            write_batches(
                converted,
                output_batches(rec_path, RECOMMENDATIONS_SCHEMA),
                RECOMMENDATIONS_SCHEMA,
                output.format,
            )
            if rec_path.is_dir():
                shutil.rmtree(rec_path)
            else:
                rec_path.unlink()
            rec_path = converted
    return rec_path.name, sim_path.name


def _write(
    result: Output, path: Path, name: str, schema: pa.Schema, loader: BackgroundLoad | None
) -> int:
    """Write an engine's output to ``path`` (unless its workers did) and load it into the
    database alongside; return its rows."""
    if isinstance(result, Written):
        if loader is not None:  # streamed from the parts, never held whole
            for _ in loader.tee(name, output_batches(result.path, schema)):
                pass
        return result.rows
    if loader is not None:
        result = loader.tee(name, result)
    return write_batches(path, result, schema, statistics=STATISTICS[name], plain=PLAIN[name])


def output_batches(path: Path, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Stream an output back in its schema: one Parquet file, or a folder of part files
    (written by a distributed engine) read in part order."""
    if not path.is_dir():
        yield from read_batches(path)
        return
    import pyarrow.dataset as ds  # 0.3 s of imports, only for a folder of parts

    for batch in ds.dataset(path, format="parquet").to_batches(batch_size=500_000):
        yield from pa.Table.from_batches([batch]).select(schema.names).cast(schema).to_batches()


def count_model_users(
    batches: Iterator[pa.RecordBatch], summary: RunSummary
) -> Iterator[pa.RecordBatch]:
    """Pass batches through, counting users whose first entry came from the model."""
    for batch in batches:
        first_is_model = pc.and_(
            pc.equal(batch.column("rank"), 1), pc.equal(batch.column("source"), "model")
        )
        summary.users_with_model_recs += pc.sum(first_is_model).as_py() or 0
        yield batch
