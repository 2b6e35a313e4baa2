"""What the fold worker saves for the server (``served.SERVING``) and the server maps is what
the server would compute itself from the published version, array for array."""

from __future__ import annotations

import gc
import json
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from shopscale.recommend.params import RecommendParams
from shopscale.serve.fold import fold_version
from shopscale.serve.folder import current_version
from shopscale.serve.rows import UserRows
from shopscale.serve.served import SERVING, Prepared, load_prepared, prepare
from shopscale.store.versions import leased
from tests.serve.conftest import Event, as_json, build_model
from tests.serve.test_exact import params_strategy
from tests.strategies import split_logs


def assert_same(got: Prepared, want: Prepared) -> None:
    """Every array bit-equal (values and types), the same ids, similar items and settings."""
    pairs = [
        *zip(got.indicators.votes, want.indicators.votes, strict=True),
        *zip(got.indicators.prior, want.indicators.prior, strict=True),
        (got.indicators.popular, want.indicators.popular),
        (got.similar_ptr, want.similar_ptr),
        (got.user_ptr, want.user_ptr),
        (got.excluded_ptr, want.excluded_ptr),
        *zip(got.state.excluded, want.state.excluded, strict=True),
        *((getattr(got.state.history, k), getattr(want.state.history, k)) for k in "uaitn"),
        *((getattr(got.state.dropped, k), getattr(want.state.dropped, k)) for k in "uaitn"),
        *((getattr(got.rows, f.name), getattr(want.rows, f.name)) for f in fields(UserRows)),
    ]
    for a, b in pairs:
        assert a.dtype == b.dtype and np.array_equal(a, b)
        assert a.flags.writeable  # numba sees the computed arrays' type: nothing recompiles
    assert got.state.users.equals(want.state.users) and got.state.items.equals(want.state.items)
    assert got.similar.equals(want.similar)
    for name in ("actions", "channels", "t_ref", "timed", "next_position", "params", "files"):
        assert getattr(got.state, name) == getattr(want.state, name), name


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=split_logs(), params=params_strategy)
def test_saved_arrays_equal_computed(
    tmp_path_factory: pytest.TempPathFactory, parts: list[list[Event]], params: RecommendParams
) -> None:
    """A server fold of the later parts: the version it publishes maps to exactly what
    ``prepare`` computes from that version's files (new users and items reorder codes); a
    saved folder that lacks an array (an older shopscale's) is not mapped."""
    tmp: Path = tmp_path_factory.mktemp("prepared")
    results = build_model(tmp, parts[0], params)
    assert load_prepared(current_version(results)) is None  # recommend saves none
    later = [e for part in parts[1:] for e in part]
    fold_file = tmp / "wal" / f"wal-feed-0-{len(later)}.jsonl"
    fold_file.parent.mkdir()
    fold_file.write_text("".join(json.dumps(as_json(e)) + "\n" for e in later))
    version = Path(fold_version(str(results), str(fold_file)))
    assert (version / SERVING).is_dir()
    mapped = load_prepared(version)
    assert mapped is not None
    bare = tmp / "bare"  # the same version without what the worker saved: computed anew
    shutil.copytree(version, bare, ignore=shutil.ignore_patterns(SERVING))
    assert load_prepared(bare) is None
    assert_same(mapped, prepare(bare))
    older = tmp / "older"  # saved by a shopscale without event counts: computed anew too
    shutil.copytree(version, older)
    (older / SERVING / "dropped_n.npy").unlink()
    assert load_prepared(older) is None
    assert leased(version)  # mapped: no prune may cut its files down
    del mapped
    gc.collect()
    assert not leased(version)
