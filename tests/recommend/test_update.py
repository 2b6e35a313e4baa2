"""``update`` is exact: recommend on a first part then update with each increment gives the
bytes recommend gives on all events at once; what it must refuse, it refuses."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from shopscale.engine.local import fold, pairs
from shopscale.errors import InputError, ShopscaleError
from shopscale.events import EventsParams
from shopscale.recommend.model import FORMAT_VERSION, read_meta, read_state, state_table
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, run
from shopscale.recommend.state_files import PAIR_ROWS, TABLES
from shopscale.recommend.update import update
from tests.strategies import T0, recommend_params, split_logs

OUTPUTS = ("similar_items.parquet", "recommendations.parquet")
Event = tuple[str, str, str, int]

params_strategy = recommend_params(
    similarity=st.sampled_from(["llr", "llr", "llr", "cosine", "jaccard", "count", "lift"]),
    max_items_per_user=st.integers(1, 3),
    half_life_days=st.sampled_from([None, 0.0001, 0.0003]),
    half_life_events=st.sampled_from([None, 1.0, 2.5]),
    self_prior=st.sampled_from([0.0, 3.0]),
    unprompted_weight=st.sampled_from([0.0, 1e5]),
)


def part_text(events: list[Event], *, timed: bool) -> str:
    """One part as CSV text; without timestamps, file order is time order."""
    if timed:
        return "user_id,action,item_id,timestamp\n" + "".join(
            f"{u},{a},{i},{T0 + t}\n" for u, a, i, t in events
        )
    return "user_id,action,item_id\n" + "".join(f"{u},{a},{i}\n" for u, a, i, _ in events)


def write_part(path: Path, events: list[Event], *, timed: bool) -> Path:
    """One part as a CSV file."""
    path.write_text(part_text(events, timed=timed), encoding="utf-8")
    return path


def build(tmp: Path, parts: list[list[Event]], params: RecommendParams, *, timed: bool) -> Path:
    """recommend on the first part, then one update per further part; the last result."""
    files = [write_part(tmp / f"part{k}.csv", p, timed=timed) for k, p in enumerate(parts)]
    run(files[0], out=tmp / "v0", params=params, output=OutputParams(db="none"))
    for k, path in enumerate(files[1:], start=1):
        update(tmp / f"v{k - 1}", [path], out=tmp / f"v{k}")
    return tmp / f"v{len(files) - 1}"


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=split_logs(), params=params_strategy, timed=st.sampled_from([True, True, False]))
@example(  # u0's old purchase of i1 falls out of a one-item window, an increment brings it back
    parts=[
        [("u0", "purchased", "i1", 5), ("u0", "purchased", "i2", 10), ("u1", "viewed", "i2", 1)],
        [("u0", "purchased", "i1", 7), ("u2", "purchased", "i3", 3), ("u1", "purchased", "i1", 2)],
        [("u0", "purchased", "i1", 12), ("u1", "carted", "i0", 20)],
    ],
    params=RecommendParams(max_items_per_user=1, half_life_days=0.0001),
    timed=True,
)
@example(  # a new action (carted) arrives with an increment: a new channel and action code
    parts=[
        [("u0", "viewed", "i1", 1), ("u0", "purchased", "i1", 2), ("u1", "viewed", "i1", 3)],
        [("u1", "carted", "i1", 4), ("u2", "carted", "i1", 5), ("u2", "purchased", "i0", 6)],
    ],
    params=RecommendParams(max_items_per_user=2, half_life_events=1.0),
    timed=True,
)
@example(  # a new item that sorts before an old one ties with it in u0's one-item window
    parts=[
        [("u0", "purchased", "i5", 10), ("u1", "purchased", "i5", 1)],
        [("u0", "purchased", "i3", 10)],
    ],
    params=RecommendParams(max_items_per_user=1),
    timed=True,
)
@pytest.mark.parametrize("halves", [False, True], ids=["one-part", "user-halves-item-shards"])
def test_update_equals_batch(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    halves: bool,
    parts: list[list[Event]],
    params: RecommendParams,
    timed: bool,
) -> None:
    """recommend(first part) + update(each increment) writes byte-identical similar items and
    lists, and the same model state (by id), as recommend on every part at once; also when
    every fold splits its users in two halves folded on two threads and the reduce cuts the
    folded counts into item shards of about 3 pairs."""
    monkeypatch.setattr(fold, "SPLIT_ROWS", 0 if halves else 1 << 62)
    monkeypatch.setattr(pairs, "LOADED_SHARD_PAIRS", 3 if halves else 1 << 62)
    texts = {part_text(p, timed=timed) for p in parts}
    assume(len(texts) == len(parts))  # a file whose content was folded already is refused
    tmp = tmp_path_factory.mktemp("upd")
    last = build(tmp, parts, params, timed=timed)
    files = sorted(tmp.glob("part*.csv"))
    run(files, out=tmp / "batch", params=params, output=OutputParams(db="none"))
    for name in OUTPUTS:
        got, want = pq.read_table(last / name), pq.read_table(tmp / "batch" / name)
        assert got.equals(want), name
        assert (last / name).read_bytes() == (tmp / "batch" / name).read_bytes(), name
    got_state = state_table(read_state(last / "model"))
    assert got_state == state_table(read_state(tmp / "batch" / "model"))


EVENTS: list[Event] = [
    ("u0", "viewed", "i1", 1),
    ("u0", "purchased", "i1", 2),
    ("u1", "viewed", "i1", 3),
    ("u1", "purchased", "i2", 4),
]
MORE: list[Event] = [("u2", "viewed", "i2", 5), ("u2", "purchased", "i1", 6)]


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a results folder, by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_folding_a_file_twice_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    """A file whose content was folded already (or one given twice) is refused by name and
    leaves both the model and the output folder as they were."""
    build(tmp_path, [EVENTS, MORE], RecommendParams(), timed=True)
    before = _snapshot(tmp_path / "v1")
    copy = shutil.copy(tmp_path / "part1.csv", tmp_path / "again.csv")
    with pytest.raises(InputError, match=r"again\.csv: already folded into this model"):
        update(tmp_path / "v1", [copy], out=tmp_path / "v2")
    fresh = write_part(tmp_path / "fresh.csv", [("u3", "viewed", "i1", 9)], timed=True)
    with pytest.raises(InputError, match="already folded"):
        update(
            tmp_path / "v1", [fresh, shutil.copy(fresh, tmp_path / "dup.csv")], out=tmp_path / "v3"
        )
    assert _snapshot(tmp_path / "v1") == before
    assert not (tmp_path / "v2").exists() and not (tmp_path / "v3").exists()


def test_untimed_model_refuses_a_timed_file(tmp_path: Path) -> None:
    """A model built from file-order times refuses a file with timestamps (and vice versa)."""
    build(tmp_path, [EVENTS], RecommendParams(), timed=False)
    timed_file = write_part(tmp_path / "timed.csv", MORE, timed=True)
    with pytest.raises(InputError, match=r"timed\.csv: has timestamps but the model was built"):
        update(tmp_path / "v0", [timed_file], out=tmp_path / "v1")
    other = tmp_path / "other"
    other.mkdir()
    build(other, [EVENTS], RecommendParams(), timed=True)
    untimed = write_part(tmp_path / "untimed.csv", MORE, timed=False)
    with pytest.raises(InputError, match="has no timestamp column but the model was built"):
        update(other / "v0", [untimed], out=other / "v1")


@pytest.mark.parametrize("version", [99, 0])
def test_unreadable_format_version_is_refused(tmp_path: Path, version: int) -> None:
    """A model of a newer (or too old) format version is refused with one line saying so."""
    build(tmp_path, [EVENTS], RecommendParams(), timed=True)
    state = tmp_path / "v0" / "model" / "state.json"
    meta = json.loads(state.read_text())
    state.write_text(json.dumps(meta | {"format_version": version}))
    more = write_part(tmp_path / "more.csv", MORE, timed=True)
    with pytest.raises(ShopscaleError) as err:
        update(tmp_path / "v0", [more], out=tmp_path / "v1")
    word = "newer" if version > 1 else "older"
    assert f"model format version {version} is {word} than this shopscale reads" in str(err.value)
    assert "\n" not in str(err.value)


def test_no_lists_writes_model_and_similar_items_only(tmp_path: Path) -> None:
    """``lists=False`` writes the new state and similar items (equal to the full update's)
    and no recommendations file, also when new ids renumber the string order."""
    build(tmp_path, [EVENTS], RecommendParams(), timed=True)
    early = [("a0", "viewed", "h9", 7), ("a0", "purchased", "i1", 8)]  # ids sort first
    more = write_part(tmp_path / "more.csv", [*MORE, *early], timed=True)
    update(tmp_path / "v0", [more], out=tmp_path / "lists")
    update(tmp_path / "v0", [more], out=tmp_path / "nolists", lists=False)
    assert not (tmp_path / "nolists" / "recommendations.parquet").exists()
    sims = "similar_items.parquet"
    assert (tmp_path / "nolists" / sims).read_bytes() == (tmp_path / "lists" / sims).read_bytes()
    assert state_table(read_state(tmp_path / "nolists" / "model")) == state_table(
        read_state(tmp_path / "lists" / "model")
    )


def test_new_ids_get_appended_codes(tmp_path: Path) -> None:
    """An update appends new users and items after the old codes and never renumbers them,
    even when a new id sorts before old ones."""
    build(tmp_path, [EVENTS, [("a0", "purchased", "h9", 7), *MORE]], RecommendParams(), timed=True)
    old, new = read_state(tmp_path / "v0" / "model"), read_state(tmp_path / "v1" / "model")
    assert new.users.to_pylist() == [*old.users.to_pylist(), "a0", "u2"]
    assert new.items.to_pylist() == [*old.items.to_pylist(), "h9"]


def test_untimed_positions_continue_after_rejected_rows(tmp_path: Path) -> None:
    """Rejected rows of an untimed file still take their file position, so an update's rows
    get the times a batch run over all files gives them (same lists, same bytes)."""
    (tmp_path / "a.csv").write_text(
        "user_id,action,item_id\nu0,purchased,i1\nu1,viewed,i1\n,viewed,i2\n"
    )
    (tmp_path / "b.csv").write_text("user_id,action,item_id\nu1,purchased,i2\nu0,viewed,i2\n")
    events = EventsParams(max_reject_ratio=0.5)
    params = RecommendParams(max_items_per_user=1)
    none = OutputParams(db="none")
    run(tmp_path / "a.csv", out=tmp_path / "v0", events=events, params=params, output=none)
    update(tmp_path / "v0", [tmp_path / "b.csv"], out=tmp_path / "v1")
    files = [tmp_path / "a.csv", tmp_path / "b.csv"]
    run(files, out=tmp_path / "all", events=events, params=params, output=none)
    assert read_state(tmp_path / "v1" / "model").next_position == 5
    for name in OUTPUTS:
        assert (tmp_path / "v1" / name).read_bytes() == (tmp_path / "all" / name).read_bytes()
    assert state_table(read_state(tmp_path / "v1" / "model")) == state_table(
        read_state(tmp_path / "all" / "model")
    )


def _as_format(model: Path, version: int) -> None:
    """Rewrite a model folder in an older format's layout: no event counts (formats 1-3),
    the pairs as rows (c, i, j, k11) (formats 1 and 2), and every big table as one Parquet
    file (format 1)."""
    (model / "history" / "n.npy").unlink()
    shutil.rmtree(model / "dropped")
    meta = json.loads((model / "state.json").read_text())
    del meta["counted"], meta["params"]["repeats"]
    (model / "state.json").write_text(json.dumps(meta | {"format_version": version}))
    if version == 3:
        return
    n_items = meta["n_items"]
    pairs = {name: np.load(model / "pairs" / f"{name}.npy") for name in TABLES["pairs"]}
    rows = np.repeat(np.arange(pairs["indptr"].size - 1), np.diff(pairs["indptr"]))
    shutil.rmtree(model / "pairs")
    (model / "pairs").mkdir()
    as_rows = {"c": rows // n_items, "i": rows % n_items, "j": pairs["j"], "k11": pairs["k11"]}
    for name, dtype in PAIR_ROWS.items():
        np.save(model / "pairs" / f"{name}.npy", as_rows[name].astype(dtype))
    if version == 1:
        tables = {"history": ("u", "a", "i", "t"), "excluded": ("u", "i"), "pairs": PAIR_ROWS}
        for table, columns in tables.items():
            arrays = {name: np.load(model / table / f"{name}.npy") for name in columns}
            pq.write_table(pa.table(arrays), model / f"{table}.parquet")
            shutil.rmtree(model / table)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_older_format_model_is_still_folded(tmp_path: Path, version: int) -> None:
    """A model stored in format 1 (Parquet tables), 2 (pairs as rows) or 3 (no event counts)
    is read, and an update of it writes a current-format model with the bytes an update of
    the same model in the current format writes; it says it counts no events (``counted``)
    and refuses ``repeats``."""
    # (a model of before format 4 ranked each (user, action, item) once: so does the new one)
    build(tmp_path, [EVENTS], RecommendParams(max_items_per_user=1, repeats="once"), timed=True)
    shutil.copytree(tmp_path / "v0", tmp_path / "old")
    _as_format(tmp_path / "old" / "model", version)
    assert read_meta(tmp_path / "old" / "model")["format_version"] == version
    more = write_part(tmp_path / "more.csv", MORE, timed=True)
    update(tmp_path / "v0", [more], out=tmp_path / "from2")
    update(tmp_path / "old", [more], out=tmp_path / "from1")
    for name in OUTPUTS:
        assert (tmp_path / "from1" / name).read_bytes() == (tmp_path / "from2" / name).read_bytes()
    old, new = read_state(tmp_path / "from1" / "model"), read_state(tmp_path / "from2" / "model")
    assert (old.counted, new.counted) == (False, True)
    assert state_table(replace(old, counted=True)) == state_table(new)
    meta = json.loads((tmp_path / "old" / "model" / "state.json").read_text())
    meta["params"]["repeats"] = "count"
    (tmp_path / "old" / "model" / "state.json").write_text(json.dumps(meta))
    with pytest.raises(ShopscaleError, match=r"needs event counts.*rebuild it"):
        update(tmp_path / "old", [more], out=tmp_path / "refused")
    assert (
        json.loads((tmp_path / "from1" / "model" / "state.json").read_text())["format_version"]
        == FORMAT_VERSION
    )
