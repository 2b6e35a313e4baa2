"""The server's fold: the log's new records become one event file, folded by the same exact
fold as ``shopscale update --no-lists`` into a new model version, published atomically.

The file's name carries the log's id and the positions it covers, and the model state lists
every file folded: so the new version records its own checkpoint, switched with it in the
same rename. Runs in a worker process (``fold_version``), so a long fold neither holds the
server's interpreter nor shares its numba thread pool.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
from pathlib import Path

import scipy.sparse as sp

from shopscale.errors import ShopscaleError
from shopscale.events import EventsParams
from shopscale.recommend.model import ModelState, read_state
from shopscale.recommend.pipeline import MODEL_DIR as MODEL
from shopscale.recommend.update import update
from shopscale.serve.folder import current_version, new_version
from shopscale.serve.served import FOLD_FILE, SERVING, checkpoint, prepare, save_prepared
from shopscale.store.wal import Record

FOLDS = "folds"


def write_fold_file(
    wal_dir: Path,
    wal_id: str,
    records: list[Record],
    events: EventsParams,
    *,
    timed: bool,
) -> Path:
    """The records' events as JSON Lines in the model's column names (an event file like
    any other); each line also names its record's position, so no two files are equal."""
    start, end = records[0].start, records[-1].end
    path = wal_dir / FOLDS / f"wal-{wal_id}-{start}-{end}.jsonl"
    path.parent.mkdir(exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            for user, action, item, t in record.events:
                row: dict[str, object] = {
                    events.user_column: user,
                    events.action_column: action,
                    events.item_column: item,
                }
                if timed:
                    row[events.timestamp_column] = t
                row["wal_position"] = record.start
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def fold_worker_init() -> None:
    """Worker initializer: the fold worker dies with the server (Linux), so a killed server
    never leaves a fold running that publishes behind its back; and it runs at the lowest
    priority (Linux's ``SCHED_IDLE``, else nice 10; the threads it starts inherit it) with
    one numba thread, so requests keep the cores while a fold runs."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    with contextlib.suppress(OSError):
        os.nice(10)
    with contextlib.suppress(OSError, AttributeError):  # Linux: runs only on idle cores
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    import numba

    numba.set_num_threads(1)


def fold_version(root: str, fold_file: str) -> str:
    """Fold one file into the current version of results folder ``root`` (``update`` with
    ``lists=False``), save the serving arrays beside it (``served.SERVING``), publish; the
    new version.

    Refuses when the current version is not folded exactly up to where the file starts (a
    version published by someone else meanwhile): no log record is ever folded twice."""
    found = FOLD_FILE.search(Path(fold_file).name)
    assert found is not None
    with new_version(Path(root)) as staging:  # locked: the current version cannot move
        current = current_version(Path(root))
        stored = read_state(current / MODEL, arrays=False)  # its folded files are all we need
        if checkpoint(stored, found["wal"]) != int(found["start"]):
            raise ShopscaleError(
                f"{current}: the published model is not folded up to position "
                f"{found['start']} of the log (another writer published it); reload, fold again"
            )
        votes: list[sp.csr_matrix] = []  # the update's reduce: not run a second time
        folded: list[ModelState] = []  # and its state: not read back from the files
        summary = update(
            current,
            [Path(fold_file)],
            out=staging,
            lists=False,
            engine_options={"threads": 1},
            on_votes=votes.append,
            on_model=folded.append,
        )
        if summary.rejected:
            raise ShopscaleError(
                f"{fold_file}: {summary.rejected} logged event(s) rejected by the reader; "
                "nothing published (see rejects.csv of the failed fold)"
            )
        # what the server would compute on its loop's interpreter, computed here and mapped there
        state = folded[0].in_string_order(pairs=False)
        save_prepared(staging / SERVING, prepare(staging, state, votes[0]))
    return str(current_version(Path(root)))
