"""The recommendation job, stage order defined once: read -> validate -> encode -> map ->
reduce -> rank -> write. Engines implement the stages (``engine.base.Engine``); this module
only sequences them, times them, checks the reject budget and writes the outputs atomically.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shopscale.engine import get_engine
from shopscale.engine.base import RECOMMENDATIONS_SCHEMA, SIMILAR_ITEMS_SCHEMA, Engine
from shopscale.errors import InputError
from shopscale.events import EventsParams, resolve_inputs
from shopscale.log import get_logger, timed
from shopscale.recommend.params import DECAYS, RecommendParams
from shopscale.store.background import BackgroundLoad
from shopscale.store.files import (
    FileFormat,
    output_name,
    read_batches,
    write_batches,
    write_json,
    write_table,
)

log = get_logger("recommend.pipeline")

STAGES = ("read", "validate", "encode", "map", "reduce", "rank", "write")
RECOMMENDATIONS = "recommendations"
SQLITE_NAME = "shopscale.sqlite"
SIMILAR_ITEMS = "similar_items"
MODEL = "model"


@dataclass(frozen=True)
class OutputParams:
    """Where and how results are written (the ``[output]`` TOML section)."""

    format: FileFormat = "parquet"
    """Format of the recommendations file (similar items are always Parquet)."""
    db: str | None = "sqlite"
    """``sqlite`` (a shopscale.sqlite in the output folder), a ``sqlite:///`` or
    ``postgresql://`` URL, or ``none``."""

    def __post_init__(self) -> None:
        if self.format not in ("parquet", "csv", "jsonl"):
            raise ValueError(f"format must be parquet, csv or jsonl, got {self.format!r}")

    def db_url(self, out: Path) -> str | None:
        """The database URL to load, or None when disabled."""
        if self.db is None or self.db == "none":
            return None
        if self.db == "sqlite":
            return f"sqlite:///{(out / SQLITE_NAME).resolve()}"
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
    out: Path,
    engine: str = "local",
    events: EventsParams | None = None,
    params: RecommendParams | None = None,
    output: OutputParams | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    engine_options: dict[str, object] | None = None,
) -> RunSummary:
    """Run the whole job on ``inputs`` and write every output under ``out``.

    ``engine_options`` go to the engine (local: ``threads``, ``memory_limit`` such as "4GB").
    """
    events = events or EventsParams()
    params = params or RecommendParams()
    output = output or OutputParams()
    out = Path(out)
    paths = resolve_inputs(inputs)
    summary = RunSummary(engine=engine)
    t = summary.seconds
    eng = get_engine(engine, progress=progress, **(engine_options or {}))
    staging = out / f".staging-{time.strftime('%Y%m%dT%H%M%S')}"
    try:
        with timed(log, "read+validate", t):
            counts = eng.read(paths, events)
        summary.rows_read, summary.accepted, summary.rejected = (
            counts.rows_read,
            counts.accepted,
            counts.rejected,
        )
        summary.files = counts.files
        rejects_path = out / "rejects.csv"
        write_table(rejects_path, counts.rejects, "csv")
        log.info(
            "read %s rows: %s accepted, %s rejected",
            f"{counts.rows_read:,}",
            f"{counts.accepted:,}",
            f"{counts.rejected:,}",
        )
        check_rejects(counts.rows_read, counts.rejected, events.max_reject_ratio, rejects_path)
        params = effective_params(params, timed=counts.timed)
        summary.half_life_days = params.half_life_days or None
        summary.half_life_events = params.half_life_events or None
        summary.model = asdict(params)
        with timed(log, "encode", t):
            sizes = eng.encode(params)
        summary.users, summary.items, summary.interactions = (
            sizes.users,
            sizes.items,
            sizes.interactions,
        )
        summary.actions = list(sizes.actions)
        with timed(log, "map", t):
            eng.map(params)
        staging.mkdir(parents=True, exist_ok=True)
        eng.write_model(staging / MODEL, params)
        loader = _start_db_load(output, out, staging)
        try:
            _reduce_rank_write(eng, params, output, out, staging, summary, loader)
        except BaseException as exc:
            if loader is not None:
                loader.abort(exc)
            raise
    finally:
        eng.close()
        shutil.rmtree(staging, ignore_errors=True)
    summary.outputs["rejects"] = str(out / "rejects.csv")
    summary.outputs["summary"] = str(out / "summary.json")
    write_json(out / "summary.json", summary.to_dict())
    return summary


def _start_db_load(output: OutputParams, out: Path, staging: Path) -> BackgroundLoad | None:
    """Start loading the database beside the last stages (a private SQLite file is staged)."""
    url = output.db_url(out)
    if url is None:
        return None
    if output.db == "sqlite":
        url = f"sqlite:///{(staging / SQLITE_NAME).resolve()}"
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
) -> None:
    """Reduce, rank and write: files to staging, the database alongside, then publish."""
    t = summary.seconds
    sim_path = staging / output_name(SIMILAR_ITEMS, "parquet")
    rec_path = staging / output_name(RECOMMENDATIONS, "parquet")
    with timed(log, "reduce", t):
        sims = eng.reduce(params)
        if loader is not None:
            sims = loader.tee(SIMILAR_ITEMS, sims)
        summary.similar_items = write_batches(sim_path, sims, SIMILAR_ITEMS_SCHEMA)
    with timed(log, "rank", t):
        recs = _count_model(eng.rank(params), summary)
        if loader is not None:
            recs = loader.tee(RECOMMENDATIONS, recs)
        summary.recommendations = write_batches(rec_path, recs, RECOMMENDATIONS_SCHEMA)
    with timed(log, "write", t):
        if loader is not None:
            loader.finish()
            summary.outputs["db"] = output.db_url(out) or ""
        _publish(staging, out, output, summary, rec_path, sim_path)


def _count_model(
    batches: Iterator[pa.RecordBatch], summary: RunSummary
) -> Iterator[pa.RecordBatch]:
    """Pass batches through, counting users whose first entry came from the model."""
    for batch in batches:
        first_is_model = pc.and_(
            pc.equal(batch.column("rank"), 1), pc.equal(batch.column("source"), "model")
        )
        summary.users_with_model_recs += pc.sum(first_is_model).as_py() or 0
        yield batch


def _publish(
    staging: Path,
    out: Path,
    output: OutputParams,
    summary: RunSummary,
    rec_path: Path,
    sim_path: Path,
) -> None:
    """Move the staged files (and a staged SQLite file) into place, one rename each."""
    if output.format != "parquet":
        converted = staging / output_name(RECOMMENDATIONS, output.format)
        write_batches(converted, read_batches(rec_path), RECOMMENDATIONS_SCHEMA, output.format)
        rec_path = converted
    staged_db = staging / SQLITE_NAME
    moves = [rec_path, sim_path] + ([staged_db] if staged_db.exists() else [])
    shutil.rmtree(out / MODEL, ignore_errors=True)  # until versioned publication: not atomic
    moves.append(staging / MODEL)
    for path in moves:
        final = out / path.name
        path.replace(final)
        if path is not staged_db:
            summary.outputs[path.name.split(".")[0]] = str(final)
