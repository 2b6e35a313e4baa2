"""``update``: fold new event files into a stored model and write a complete new result.

Reads the new files with the batch job's readers (same validation, same rejects accounting),
folds them into the model state exactly (``engine.local.fold``), re-scores every kept pair
count with the new N, and writes similar items, every user's list (unless ``lists=False``),
rejects, summary and the new state: the same bytes ``recommend`` gives on all events at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any

import scipy.sparse as sp

from shopscale.engine.base import PLAIN, RECOMMENDATIONS_SCHEMA, SIMILAR_ITEMS_SCHEMA, STATISTICS
from shopscale.engine.local.engine import LocalEngine
from shopscale.errors import InputError, ShopscaleError
from shopscale.events import EventsParams, resolve_inputs, sniff
from shopscale.log import get_logger, timed
from shopscale.recommend.model import (
    ModelState,
    counts_events,
    file_sha256,
    read_events_params,
    read_meta,
)
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import (
    MODEL_DIR,
    RECOMMENDATIONS,
    REJECTS,
    SIMILAR_ITEMS,
    SUMMARY,
    RunSummary,
    check_rejects,
    count_model_users,
)
from shopscale.store.files import write_batches, write_json, write_table

log = get_logger("recommend.update")


def update(
    model_dir: Path,
    inputs: str | Path | Sequence[str | Path],
    *,
    out: Path,
    lists: bool = True,
    shown_as: Path | None = None,
    failed_rejects: Path | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    engine_options: dict[str, Any] | None = None,
    on_votes: Callable[[sp.csr_matrix], None] | None = None,
    on_model: Callable[[ModelState], None] | None = None,
) -> RunSummary:
    """Fold ``inputs`` into the model of the results folder ``model_dir`` and write a complete
    new results folder into ``out`` (missing or empty); ``model_dir`` is only read.

    ``shown_as``: where readers will find ``out``'s files once published (the summary names
    them there; default ``out``). ``failed_rejects``: where ``rejects.csv`` goes when the
    reject budget fails the update (default: it stays in ``out``). ``on_votes``: called with
    the reduce's vote matrix (string-order codes), so a server need not reduce again;
    ``on_model``: with the folded state (what ``out``'s model files hold), so it need not
    read them back.
    """
    model_dir, out = Path(model_dir), Path(out)
    shown = Path(shown_as) if shown_as is not None else out
    meta = read_meta(model_dir / MODEL_DIR)
    if not counts_events(meta):
        log.info(
            "%s keeps no event counts (written by an older shopscale): it folds as before, "
            "each (user, action, item) once; recommend on the raw log rebuilds it with them",
            model_dir,
        )
    events = read_events_params(meta)
    paths = resolve_inputs(inputs)
    files = new_files(paths, meta)
    check_timed(paths, meta)
    if out.exists() and any(out.iterdir()):
        raise ShopscaleError(f"{out}: the new result must go into an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(engine="local")
    eng = LocalEngine(progress=progress, **(engine_options or {}))
    try:
        # the stored state loads on a second thread while DuckDB reads the new files
        with ThreadPoolExecutor(1, thread_name_prefix="load-state") as pool:
            loading = pool.submit(eng.load_model, model_dir / MODEL_DIR)
            with timed(log, "read+validate", summary.seconds):
                counts = eng.read(paths, events, seq_start=int(meta["next_position"]))
            loading.result()
        summary.rows_read, summary.accepted = counts.rows_read, counts.accepted
        summary.rejected, summary.files = counts.rejected, counts.files
        write_table(out / REJECTS, counts.rejects, "csv")
        _check_budget(counts.rows_read, counts.rejected, events, out, failed_rejects)
        _fold_and_write(eng, files, out, summary, lists=lists)
        if on_votes is not None:
            on_votes(eng.votes)
        if on_model is not None and eng.model is not None:
            on_model(eng.model)
    finally:
        eng.close()
    written = [SIMILAR_ITEMS, MODEL_DIR] + ([RECOMMENDATIONS] if lists else [])
    summary.outputs = {name: str(shown / Path(summary.outputs[name]).name) for name in written}
    summary.outputs |= {"rejects": str(shown / REJECTS), "summary": str(shown / SUMMARY)}
    write_json(out / SUMMARY, summary.to_dict())
    return summary


def _check_budget(
    rows_read: int, rejected: int, events: EventsParams, out: Path, failed: Path | None
) -> None:
    """The batch job's reject budget; over it, ``rejects.csv`` moves to ``failed`` (outside
    the result that will not be published) and the message names it there."""
    kept = failed if failed is not None else out / REJECTS
    try:
        check_rejects(rows_read, rejected, events.max_reject_ratio, kept)
    except InputError:
        if failed is not None:
            failed.parent.mkdir(parents=True, exist_ok=True)
            os.replace(out / REJECTS, failed)
        raise


def _fold_and_write(
    eng: LocalEngine, files: list[dict[str, object]], out: Path, summary: RunSummary, *, lists: bool
) -> None:
    """Fold the events read, then write the new state while the reduce and (with ``lists``)
    the rank run."""
    t = summary.seconds
    assert eng.model is not None
    params = eng.model.params
    with timed(log, "fold", t):
        sizes = eng.fold(files, lists=lists)
    summary.users, summary.items = sizes.users, sizes.items
    summary.interactions, summary.actions = sizes.interactions, list(sizes.actions)
    summary.half_life_days = params.half_life_days or None
    summary.half_life_events = params.half_life_events or None
    summary.model = asdict(params)
    # the folded state is only read from here on, so a second thread writes it while this
    # one scores (NumPy and file writes release the GIL: the two share the cores)
    with ThreadPoolExecutor(1, thread_name_prefix="write-state") as pool:
        state_written = pool.submit(eng.write_model, out / MODEL_DIR, params)
        try:
            _reduce_and_rank(eng, params, out, summary, lists=lists)
        finally:
            wait([state_written])
        state_written.result()
    summary.outputs[MODEL_DIR] = str(out / MODEL_DIR)


def _reduce_and_rank(
    eng: LocalEngine, params: RecommendParams, out: Path, summary: RunSummary, *, lists: bool
) -> None:
    """Score every kept pair count into similar items, then (with ``lists``) rank users."""
    t = summary.seconds
    with timed(log, "reduce", t):
        sim_path = out / f"{SIMILAR_ITEMS}.parquet"
        summary.similar_items = write_batches(
            sim_path,
            eng.reduce(params),
            SIMILAR_ITEMS_SCHEMA,
            statistics=STATISTICS[SIMILAR_ITEMS],
            plain=PLAIN[SIMILAR_ITEMS],
        )
    summary.outputs[SIMILAR_ITEMS] = str(sim_path)
    if lists:
        with timed(log, "rank", t):
            rec_path = out / f"{RECOMMENDATIONS}.parquet"
            recs = count_model_users(eng.rank(params), summary)
            summary.recommendations = write_batches(
                rec_path,
                recs,
                RECOMMENDATIONS_SCHEMA,
                statistics=STATISTICS[RECOMMENDATIONS],
                plain=PLAIN[RECOMMENDATIONS],
            )
        summary.outputs[RECOMMENDATIONS] = str(rec_path)


def new_files(paths: list[Path], meta: dict[str, Any]) -> list[dict[str, object]]:
    """Name and content hash of each input; a file already folded into the model (or given
    twice) is refused, so no event is ever counted twice."""
    folded = {str(f["sha256"]): str(f["file"]) for f in meta["files"]}
    out: list[dict[str, object]] = []
    for path in paths:
        digest = file_sha256(path)
        if digest in folded:
            raise InputError(
                path, f"already folded into this model (same content as {folded[digest]})"
            )
        folded[digest] = str(path)
        out.append({"file": str(path), "sha256": digest})
    return out


def check_timed(paths: list[Path], meta: dict[str, Any]) -> None:
    """A model of timed events folds only timed files, and an untimed one only untimed."""
    events = read_events_params(meta)
    for path in paths:
        has = sniff(path, events).has_timestamp
        if has != bool(meta["timed"]):
            what = "timestamps" if has else "no timestamp column"
            model = "timed events" if meta["timed"] else "untimed events (file order)"
            raise InputError(
                path, f"has {what} but the model was built from {model}; they cannot be mixed"
            )
