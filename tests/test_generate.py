"""The synthetic log: exact sizes, same seed same bytes, a realistic funnel, learnable structure."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from shopscale.cli.generate import register
from shopscale.errors import ConfigError
from shopscale.generate import (
    ACTIONS,
    COLUMNS,
    SHAPES,
    START_EPOCH_S,
    GenerateParams,
    iter_event_blocks,
    write_events,
)
from tests.cli.conftest import Runner, shopscale  # noqa: F401  (fixture)

SMALL = GenerateParams(events=6_000, chunk_events=2_500, seed=7)
MEDIUM = GenerateParams(events=60_000, items=3_000, seed=3)


@pytest.fixture(scope="module")
def medium(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """A 60k-event CSV log loaded as table ``e`` with its row number ``rn`` (file order)."""
    path = tmp_path_factory.mktemp("gen") / "events.csv"
    write_events(MEDIUM, path)
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE e AS SELECT *, row_number() OVER () AS rn FROM read_csv('{path}', "
        "header = true, all_varchar = true)"
    )
    return con


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    """The single value a query returns."""
    row = con.execute(sql).fetchone()
    assert row is not None
    return float(row[0])


def test_csv_header_is_plain(tmp_path: Path) -> None:
    """The CSV starts with the unquoted header and rows have four unquoted fields."""
    path = tmp_path / "e.csv"
    write_events(SMALL, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "user_id,action,item_id,timestamp"
    user, action, item, ts = lines[1].split(",")
    assert user.isdigit()
    assert item.isdigit()
    assert ts.isdigit()
    assert action in ACTIONS


@pytest.mark.parametrize(
    ("name", "fmt", "gzip"),
    [
        ("e.csv", "csv", False),
        ("e.csv.gz", "csv", True),
        ("e.jsonl", "jsonl", False),
        ("e.jsonl.gz", "jsonl", True),
        ("e.parquet", "parquet", False),
    ],
)
def test_every_format_reads_back_in_duckdb(tmp_path: Path, name: str, fmt, gzip: bool) -> None:
    """Each format holds exactly ``events`` rows with the four columns, readable by DuckDB."""
    path = tmp_path / name
    assert write_events(SMALL, path, fmt=fmt, gzip=gzip) == SMALL.events
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM '{path}'")
    assert rel.columns == list(COLUMNS)
    assert con.execute(f"SELECT count(*) FROM '{path}'").fetchone() == (SMALL.events,)
    types = dict(zip(rel.columns, rel.types, strict=True))
    assert str(types["timestamp"]) == "BIGINT"
    if fmt != "csv":
        assert str(types["user_id"]) == "VARCHAR"
        assert str(types["item_id"]) == "VARCHAR"


@pytest.mark.parametrize("gzip", [False, True])
def test_same_seed_gives_identical_bytes(tmp_path: Path, gzip: bool) -> None:
    """Two runs with the same params write byte-identical files; another seed differs."""
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_events(SMALL, a, gzip=gzip)
    write_events(SMALL, b, gzip=gzip)
    other = GenerateParams(events=SMALL.events, chunk_events=SMALL.chunk_events, seed=8)
    write_events(other, c, gzip=gzip)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_parquet_is_deterministic_too(tmp_path: Path) -> None:
    """Parquet output is byte-identical across runs with the same seed."""
    write_events(SMALL, tmp_path / "a.parquet", fmt="parquet")
    write_events(SMALL, tmp_path / "b.parquet", fmt="parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    """After a write the folder holds only the output; a refused write leaves nothing."""
    write_events(SMALL, tmp_path / "e.csv")
    with pytest.raises(ValueError, match="compressed already"):
        write_events(SMALL, tmp_path / "e.parquet", fmt="parquet", gzip=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv"]


@settings(max_examples=60, deadline=None)
@given(
    events=st.integers(1, 400),
    users=st.one_of(st.none(), st.integers(1, 600)),
    items=st.one_of(st.none(), st.integers(4, 300)),
    chunk_events=st.integers(1, 500),
    days=st.integers(1, 40),
    shape=st.sampled_from(SHAPES),
)
def test_exact_events_and_ids_in_range(
    events: int, users: int | None, items: int | None, chunk_events: int, days: int, shape
) -> None:
    """Any sizes and shape give exactly ``events`` rows, ids within 1..n, times in the span."""
    params = GenerateParams(events, users, items, days=days, chunk_events=chunk_events, shape=shape)
    table = pa.concat_tables(iter_event_blocks(params))
    assert table.num_rows == events
    user = np.asarray(table["user_id"].to_pylist(), dtype=np.int64)
    item = np.asarray(table["item_id"].to_pylist(), dtype=np.int64)
    ts = table["timestamp"].to_numpy()
    assert user.min() >= 1
    assert user.max() <= params.n_users
    assert item.min() >= 1
    assert item.max() <= params.n_items
    assert ts.min() >= START_EPOCH_S
    assert ts.max() < START_EPOCH_S + days * 86_400


# SHA-256 of SMALL as CSV, written by the generator before the shapes existed (commit ae1e6c4).
BUNDLES_SMALL_SHA256 = "e8d9b861ef5e7712642717cb3daba47f12d8eccc89b3d4b56091808abd740dd4"


def test_bundles_shape_writes_the_same_bytes_as_before(tmp_path: Path) -> None:
    """The default shape (and ``shape="bundles"``) still writes the bytes it wrote before."""
    for params in (
        SMALL,
        GenerateParams(events=6_000, chunk_events=2_500, seed=7, shape="bundles"),
    ):
        write_events(params, tmp_path / "e.csv")
        assert hashlib.sha256((tmp_path / "e.csv").read_bytes()).hexdigest() == BUNDLES_SMALL_SHA256


@pytest.mark.parametrize("shape", ["longtail", "catalog"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_sparse_shapes_are_deterministic(tmp_path: Path, shape, suffix: str) -> None:
    """A sparse shape writes identical bytes for one seed, other bytes for another seed or shape."""
    params = GenerateParams(events=6_000, chunk_events=2_500, seed=7, shape=shape)
    other_seed = GenerateParams(events=6_000, chunk_events=2_500, seed=8, shape=shape)
    names = ("a", "b", "c", "d")
    fmt = "parquet" if suffix == ".parquet" else "csv"
    for name, p in zip(names, (params, params, other_seed, SMALL), strict=True):
        write_events(p, tmp_path / f"{name}{suffix}", fmt=fmt)
    data = [(tmp_path / f"{name}{suffix}").read_bytes() for name in names]
    assert data[0] == data[1]
    assert data[0] != data[2]
    assert data[0] != data[3]


def test_shape_sizes_follow_the_issue() -> None:
    """longtail: 5M events give about 240k users and 60k items; catalog: 100M events give 10M
    users and 1M items, and the catalogue never grows past 1M items."""
    longtail = GenerateParams(events=5_000_000, shape="longtail")
    assert (longtail.n_users, longtail.n_items) == (238_095, 60_240)
    catalog = GenerateParams(events=100_000_000, shape="catalog")
    assert (catalog.n_users, catalog.n_items) == (10_000_000, 1_000_000)
    assert GenerateParams(events=300_000_000, shape="catalog").n_items == 1_000_000
    assert GenerateParams(events=10_000_000, shape="catalog").n_items == 1_000_000


def _shape_stats(shape: str) -> dict[str, float]:
    """Events per user (mean, median), top-1 % item share and share of items with <= 2 events."""
    params = GenerateParams(events=200_000, chunk_events=60_000, seed=5, shape=shape)
    table = pa.concat_tables(iter_event_blocks(params))
    per_user = pc.value_counts(table["user_id"]).field("counts").to_numpy()
    per_item = np.sort(pc.value_counts(table["item_id"]).field("counts").to_numpy())[::-1]
    top = per_item[: params.n_items // 100].sum() / table.num_rows
    return {
        "users": len(per_user) / params.n_users,
        "mean": float(per_user.mean()),
        "median": float(np.median(per_user)),
        "top1": float(top),
        "rare": float(np.mean(per_item <= 2) * len(per_item) / params.n_items),
    }


@pytest.mark.parametrize(
    ("shape", "mean", "rare_at_least"), [("longtail", 21.0, 0.0), ("catalog", 10.0, 0.2)]
)
def test_sparse_shape_statistics(shape: str, mean: float, rare_at_least: float) -> None:
    """Every user acts; events per user average as designed with a heavy tail (median well
    below the mean); the top 1 % of items take 15-45 % of events; the catalogue has a long
    tail of items seen at most twice."""
    stats = _shape_stats(shape)
    assert stats["users"] == 1.0
    assert stats["mean"] == pytest.approx(mean, rel=0.01)
    assert stats["median"] <= 0.8 * stats["mean"]
    assert 0.15 <= stats["top1"] <= 0.45
    assert stats["rare"] >= rare_at_least


def test_defaults_scale_with_events() -> None:
    """Default sizes are events/20 users and events/100 items (at least 50)."""
    assert (GenerateParams(events=10_000_000).n_users, GenerateParams(10_000_000).n_items) == (
        500_000,
        100_000,
    )
    assert GenerateParams(events=1_000).n_items == 50


def test_funnel_ratios_are_in_band(medium: duckdb.DuckDBPyConnection) -> None:
    """Views, carts and purchases are about 85%, 10% and 5% of events."""
    share = dict(medium.execute("SELECT action, count(*) / 60000 FROM e GROUP BY 1").fetchall())
    assert 0.82 <= share["viewed"] <= 0.89
    assert 0.08 <= share["carted"] <= 0.12
    assert 0.035 <= share["purchased"] <= 0.065


def test_purchases_follow_views_and_mostly_carts(medium: duckdb.DuckDBPyConnection) -> None:
    """Nearly every purchase follows a view of the item by the user, most follow a cart."""
    sql = """
        SELECT avg(CASE WHEN EXISTS (
            SELECT 1 FROM e v WHERE v.user_id = p.user_id AND v.item_id = p.item_id
            AND v.action = '{0}' AND v.rn < p.rn) THEN 1 ELSE 0 END)
        FROM e p WHERE p.action = 'purchased'
    """
    assert scalar(medium, sql.format("viewed")) >= 0.95
    assert 0.75 <= scalar(medium, sql.format("carted")) <= 0.97


def test_time_never_goes_back_for_a_user(medium: duckdb.DuckDBPyConnection) -> None:
    """In file order, each user's timestamps never decrease."""
    sql = """
        SELECT count(*) FROM (SELECT timestamp::BIGINT AS t,
            lag(timestamp::BIGINT) OVER (PARTITION BY user_id ORDER BY rn) AS prev FROM e)
        WHERE prev > t
    """
    assert scalar(medium, sql) == 0


def test_item_popularity_is_skewed(medium: duckdb.DuckDBPyConnection) -> None:
    """The most popular 1% of items take 10% to 40% of events (a power law, not uniform)."""
    sql = """
        SELECT sum(c) / 60000 FROM (SELECT count(*) AS c FROM e GROUP BY item_id
        ORDER BY c DESC LIMIT 30)
    """
    assert 0.10 <= scalar(medium, sql) <= 0.40


def _hits(con: duckdb.DuckDBPyConnection) -> tuple[float, float]:
    """Hit rate@10 on each user's last purchased item, hidden with all the user's events on it.

    Co-occurrence (binary X, S = X^T X, scores X_u S) against popularity; both skip items the
    user still has in training.
    """
    rows = con.execute("""
        WITH last AS (SELECT user_id, arg_max(item_id, rn) AS held_item FROM e
            WHERE action = 'purchased' GROUP BY user_id)
        SELECT e.user_id::INT AS u, e.item_id::INT AS i, coalesce(e.item_id = held_item, false)
            AS held FROM e LEFT JOIN last USING (user_id)
    """).fetchnumpy()
    user, item, held = rows["u"] - 1, rows["i"] - 1, np.asarray(rows["held"], dtype=bool)
    shape = (MEDIUM.n_users, MEDIUM.n_items)
    train = sp.csr_matrix((np.ones((~held).sum()), (user[~held], item[~held])), shape=shape)
    train.data[:] = 1.0
    sim = (train.T @ train).tocsr()
    sim.setdiag(0)
    test_users, first = np.unique(user[held], return_index=True)
    test_items = item[held][first]
    seen = train[test_users].toarray() > 0
    scores = (train[test_users] @ sim).toarray()
    popularity = np.broadcast_to(np.asarray(train.sum(axis=0)), scores.shape).copy()
    hits = []
    for s in (scores, popularity):
        s[seen] = -1
        top = np.argsort(-s, axis=1, kind="stable")[:, :10]
        hits.append(float(np.mean((top == test_items[:, None]).any(axis=1))))
    return hits[0], hits[1]


def test_co_occurrence_is_learnable(medium: duckdb.DuckDBPyConnection) -> None:
    """Item co-occurrence predicts held-out purchases at least twice as well as popularity."""
    cooc, pop = _hits(medium)
    assert cooc >= 2 * pop
    assert cooc >= 0.25


def _app() -> typer.Typer:
    """A Typer app with only the ``generate`` command (and a root so it stays a sub-command)."""
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Root."""

    register(app)
    return app


def test_cli_help_lists_the_options() -> None:
    """``generate --help`` exits 0 and names every option."""
    result = CliRunner().invoke(_app(), ["generate", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--events",
        "--out",
        "--users",
        "--items",
        "--seed",
        "--days",
        "--format",
        "--shape",
    ):
        assert flag in result.output


def test_cli_writes_the_requested_events(tmp_path: Path) -> None:
    """``generate --events N --gzip`` writes a .gz file DuckDB reads as N rows."""
    out = tmp_path / "sample" / "events.csv"
    args = ["generate", "--events", "3000", "--out", str(out), "--seed", "1", "--gzip"]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    gz = tmp_path / "sample" / "events.csv.gz"
    assert duckdb.connect().execute(f"SELECT count(*) FROM '{gz}'").fetchone() == (3000,)


def test_cli_shape_writes_that_shape(tmp_path: Path) -> None:
    """``generate --shape catalog`` writes the catalog log of the library, row for row."""
    out = tmp_path / "events.parquet"
    args = ["generate", "--events", "3000", "--out", str(out), "--shape", "catalog"]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    expected = pa.concat_tables(iter_event_blocks(GenerateParams(events=3000, shape="catalog")))
    assert pq.read_table(out).equals(expected)


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "xml"],
        ["--events", "0"],
        ["--format", "parquet", "--gzip"],
        ["--shape", "dense"],
    ],
)
def test_cli_rejects_bad_flags_with_config_error(tmp_path: Path, args: list[str]) -> None:
    """A bad flag is a ConfigError (exit 2 in the real CLI), and nothing is written."""
    result = CliRunner().invoke(_app(), ["generate", "--out", str(tmp_path / "e.csv"), *args])
    assert isinstance(result.exception, ConfigError)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def cli(request: pytest.FixtureRequest) -> Runner:
    """``python -m shopscale ARGS`` in tmp_path (the runner of tests/cli/conftest.py)."""
    runner: Runner = request.getfixturevalue("shopscale")
    return runner


@pytest.mark.parametrize("out", ["blocker/events.csv", "blocker/sub/events.csv", "."])
def test_cli_unwritable_out_is_one_line_before_generating(
    cli: Runner, tmp_path: Path, out: str
) -> None:
    """--out under a regular file, or a folder, exits 2 in one line naming it; nothing else
    is written and the blocking file is untouched."""
    (tmp_path / "blocker").write_text("keep\n")
    proc = cli("generate", "--out", out, "--events", "1000", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {out}:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "logs"]
    assert (tmp_path / "blocker").read_text() == "keep\n"
