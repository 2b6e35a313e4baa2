"""Tests of the SQL result store on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopscale.errors import ConfigError, InputError, ShopscaleError
from shopscale.store.sql import (
    RECOMMENDATIONS_SCHEMA,
    SIMILAR_ITEMS_SCHEMA,
    StoreError,
    parse_url,
    read_recommendations,
    read_similar,
    write_tables,
)

# Ids a CSV or COPY text writer would get wrong: separators, quotes, escapes, NULL markers.
AWKWARD_IDS = ["u,1", 'say "hi"', "it's", "tab\there", "line\nbreak", "back\\slash", "\\N", ""]
UNICODE_IDS = ["Zoë", "用户", "🛒🎁", "ﬁ-ligature", "e\u0301"]


def recommendations(rows: list[tuple[str, int, str, float, str]]) -> pa.Table:
    """A recommendations table from (user_id, rank, item_id, score, source) tuples."""
    return pa.Table.from_pylist(
        [dict(zip(RECOMMENDATIONS_SCHEMA.names, row, strict=True)) for row in rows],
        schema=RECOMMENDATIONS_SCHEMA,
    )


def similar_items(rows: list[tuple[str, str, int, str, float]]) -> pa.Table:
    """A similar_items table from (item_id, action, rank, similar_item_id, score) tuples."""
    return pa.Table.from_pylist(
        [dict(zip(SIMILAR_ITEMS_SCHEMA.names, row, strict=True)) for row in rows],
        schema=SIMILAR_ITEMS_SCHEMA,
    )


def ranked_rows(
    users: list[str], items: list[str], n: int
) -> list[tuple[str, int, str, float, str]]:
    """``n`` recommendation rows per user, items taken round-robin, scores falling with rank."""
    return [
        (
            user,
            rank,
            items[(u + rank) % len(items)],
            1.0 / rank,
            "model" if rank < n else "backfill",
        )
        for u, user in enumerate(users)
        for rank in range(1, n + 1)
    ]


def expected_for(table: pa.Table, user_id: str) -> list[dict[str, Any]]:
    """The rows of ``user_id`` in ``table`` ordered by rank: what the store must return."""
    return table.filter(pc.field("user_id") == user_id).sort_by("rank").to_pylist()


def raw_query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run SQL on the store directly with the driver (``?`` placeholders on both backends)."""
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn, conn:
            return conn.execute(sql, params).fetchall()
    with psycopg.connect(url) as conn:
        cursor = conn.execute(sql.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description else []


def table_names(url: str) -> set[str]:
    """The names of all tables in the store."""
    if url.startswith("sqlite:///"):
        rows = raw_query(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = raw_query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {row[0] for row in rows}


def failing_batches(table: pa.Table, after: int) -> Iterator[pa.RecordBatch]:
    """Yield ``after`` batches of ``table``, then raise: a producer crashing mid-load."""
    yield from table.to_batches(max_chunksize=max(1, table.num_rows // (after + 1)))[:after]
    raise RuntimeError("producer crashed mid-load")


def test_round_trip_keeps_awkward_and_unicode_ids(store_url: str) -> None:
    """Every row written comes back unchanged, whatever characters the ids contain."""
    ids = AWKWARD_IDS + UNICODE_IDS
    recs = recommendations(ranked_rows(ids, ids[::-1], 3))
    sims = similar_items(
        [
            (item, action, r, ids[(i + r) % len(ids)], 0.5 / r)
            for i, item in enumerate(ids)
            for action in ("view", "buy,ü")
            for r in (1, 2)
        ]
    )
    write_tables(store_url, {"recommendations": recs, "similar_items": sims})
    for user_id in ids:
        assert read_recommendations(store_url, user_id) == expected_for(recs, user_id)
    for item_id in ids:
        expected = sorted(
            (row for row in sims.to_pylist() if row["item_id"] == item_id),
            key=lambda row: (row["action"], row["rank"]),
        )
        assert read_similar(store_url, item_id) == expected
        buys = [row for row in expected if row["action"] == "buy,ü"]
        assert read_similar(store_url, item_id, action="buy,ü") == buys


def test_unknown_ids_read_as_empty(store_url: str) -> None:
    """A user or item that was never written reads back as an empty list."""
    write_tables(store_url, {"recommendations": recommendations(ranked_rows(["a"], ["x"], 1))})
    write_tables(store_url, {"similar_items": similar_items([("x", "view", 1, "y", 1.0)])})
    assert read_recommendations(store_url, "nobody") == []
    assert read_similar(store_url, "x", action="buy") == []


def test_second_write_fully_replaces_first(store_url: str) -> None:
    """After a second write, only its rows are stored; the first write's rows are gone."""
    first = recommendations(ranked_rows(["a", "b"], ["x", "y", "z"], 3))
    second = recommendations(ranked_rows(["b", "c"], ["p", "q"], 2))
    write_tables(store_url, {"recommendations": first})
    write_tables(store_url, {"recommendations": second})
    assert read_recommendations(store_url, "a") == []
    assert read_recommendations(store_url, "b") == expected_for(second, "b")
    assert read_recommendations(store_url, "c") == expected_for(second, "c")
    assert raw_query(store_url, "SELECT count(*) FROM recommendations") == [(4,)]


def test_failed_write_leaves_previous_tables_intact(store_url: str) -> None:
    """A producer crashing mid-load leaves both previous tables readable and unchanged."""
    users = [f"user-{i}" for i in range(50)]
    v1_recs = recommendations(ranked_rows(users, ["x", "y", "z"], 3))
    v1_sims = similar_items([("x", "view", 1, "y", 1.0)])
    write_tables(store_url, {"recommendations": v1_recs, "similar_items": v1_sims})
    v2 = recommendations(ranked_rows(users, ["p", "q"], 2))
    v2_sims = similar_items([("x", "view", 1, "q", 2.0)])
    with pytest.raises(RuntimeError, match="mid-load"):
        write_tables(
            store_url, {"similar_items": v2_sims, "recommendations": failing_batches(v2, 1)}
        )
    for user_id in users:
        assert read_recommendations(store_url, user_id) == expected_for(v1_recs, user_id)
    assert read_similar(store_url, "x") == v1_sims.to_pylist()
    assert table_names(store_url) == {"recommendations", "similar_items"}


def test_write_after_failed_write_succeeds(store_url: str) -> None:
    """A write after a crashed one, or over stray staging tables, stores the new rows."""
    v1 = recommendations(ranked_rows(["a"], ["x"], 2))
    write_tables(store_url, {"recommendations": v1})
    with pytest.raises(RuntimeError):
        write_tables(store_url, {"recommendations": failing_batches(v1, 1)})
    raw_query(store_url, "CREATE TABLE recommendations__new (junk integer)")
    v2 = recommendations(ranked_rows(["b"], ["y"], 2))
    write_tables(store_url, {"recommendations": v2.to_batches()})
    assert read_recommendations(store_url, "a") == []
    assert read_recommendations(store_url, "b") == expected_for(v2, "b")
    assert table_names(store_url) == {"recommendations"}


def index_columns(url: str, table: str) -> list[str]:
    """The definitions of the indexes on ``table``, reduced to their column lists."""
    if url.startswith("sqlite:///"):
        names = raw_query(
            url, "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=?", (table,)
        )
        return [
            ",".join(row[2] for row in raw_query(url, f"PRAGMA index_info('{name}')"))
            for (name,) in names
        ]
    defs = raw_query(url, "SELECT indexdef FROM pg_indexes WHERE tablename = ?", (table,))
    return [d.partition("(")[2].rstrip(")").replace(" ", "") for (d,) in defs]


def test_tables_are_indexed_for_lookups(store_url: str) -> None:
    """recommendations is indexed on (user_id, rank), similar_items on (item_id, action, rank)."""
    recs = recommendations(ranked_rows(["a"], ["x"], 1))
    sims = similar_items([("x", "view", 1, "y", 1.0)])
    for _ in range(2):  # the index survives a replace
        write_tables(store_url, {"recommendations": recs, "similar_items": sims})
    assert index_columns(store_url, "recommendations") == ["user_id,rank"]
    assert index_columns(store_url, "similar_items") == ["item_id,action,rank"]


def test_bulk_write_from_batch_stream_keeps_every_row(store_url: str) -> None:
    """200k rows streamed as record batches are all stored, each user's list intact."""
    users = [f"u{i:06d}" for i in range(20_000)]
    table = recommendations(ranked_rows(users, [f"i{i}" for i in range(997)], 10))
    write_tables(store_url, {"recommendations": iter(table.to_batches(max_chunksize=30_000))})
    assert raw_query(store_url, "SELECT count(*) FROM recommendations") == [(200_000,)]
    for user_id in (users[0], users[12_345], users[-1]):
        assert read_recommendations(store_url, user_id) == expected_for(table, user_id)


def test_empty_table_and_empty_batches_replace_with_no_rows(store_url: str) -> None:
    """Writing no batches, or only empty ones, leaves the table present and empty."""
    write_tables(store_url, {"recommendations": recommendations(ranked_rows(["a"], ["x"], 2))})
    empty = recommendations([])
    write_tables(
        store_url, {"recommendations": [], "similar_items": similar_items([]).to_batches()}
    )
    assert raw_query(store_url, "SELECT count(*) FROM recommendations") == [(0,)]
    zero_rows = pa.RecordBatch.from_pylist([], schema=RECOMMENDATIONS_SCHEMA)
    write_tables(store_url, {"recommendations": [zero_rows, empty]})
    assert raw_query(store_url, "SELECT count(*) FROM recommendations") == [(0,)]
    assert raw_query(store_url, "SELECT count(*) FROM similar_items") == [(0,)]


def test_input_is_cast_to_the_table_schema(store_url: str) -> None:
    """Columns in another order with castable types (int64 rank, large_string) are accepted."""
    table = pa.table(
        {
            "source": pa.array(["model"], pa.large_string()),
            "score": [2.5],
            "item_id": ["x"],
            "rank": pa.array([1], pa.int64()),
            "user_id": ["a"],
        }
    )
    write_tables(store_url, {"recommendations": table})
    assert read_recommendations(store_url, "a") == [
        {"user_id": "a", "rank": 1, "item_id": "x", "score": 2.5, "source": "model"}
    ]


def test_table_with_given_schema_is_stored(store_url: str) -> None:
    """A table the store does not know is created from the schema given for it."""
    schema = pa.schema([pa.field("run_id", pa.string()), pa.field("n", pa.int64())])
    write_tables(
        store_url,
        {"runs": [pa.record_batch([["r1"], [7]], schema=schema)]},
        schemas={"runs": schema},
    )
    assert raw_query(store_url, "SELECT run_id, n FROM runs") == [("r1", 7)]


def test_input_errors_name_table_and_column(sqlite_url: str) -> None:
    """A missing column, a null id or an uncastable value is an InputError naming the column."""
    good = recommendations(ranked_rows(["a"], ["x"], 1))
    with pytest.raises(InputError, match=r"recommendations: .*missing \['source'\]"):
        write_tables(sqlite_url, {"recommendations": good.drop_columns(["source"])})
    nulls = good.set_column(0, "user_id", pa.array([None], pa.string()))
    with pytest.raises(InputError, match="'user_id' has 1 nulls"):
        write_tables(sqlite_url, {"recommendations": nulls})
    words = good.set_column(1, "rank", pa.array(["first"]))
    with pytest.raises(InputError, match="'rank': cannot cast string to int32"):
        write_tables(sqlite_url, {"recommendations": words})
    with pytest.raises(ConfigError, match="Bad-Name"):
        write_tables(sqlite_url, {"Bad-Name": good})


@pytest.mark.parametrize(
    ("url", "dialect", "target"),
    [
        ("sqlite:///results/recs.sqlite", "sqlite", "results/recs.sqlite"),
        ("sqlite:////srv/shop/recs.sqlite", "sqlite", "/srv/shop/recs.sqlite"),
        (
            "postgresql://shop@db.local:5433/recs",
            "postgresql",
            "postgresql://shop@db.local:5433/recs",
        ),
        (
            "postgres://shop@db/recs?sslmode=require",
            "postgresql",
            "postgres://shop@db/recs?sslmode=require",
        ),
    ],
)
def test_parse_url_accepts_supported_forms(url: str, dialect: str, target: str) -> None:
    """SQLite relative/absolute file URLs and libpq URLs parse to their dialect and target."""
    parsed = parse_url(url)
    assert (parsed.dialect, parsed.target, parsed.display) == (dialect, target, url)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://shop:hunter2@db/recs",
        "sqlite://recs.sqlite",
        "sqlite:///",
        "sqlite:///:memory:",
        "recs.sqlite",
        "postgresql://shop:hunter2@db/recs?nosuchoption=1",
        "postgresql://shop:hunter2@[::1:5432/recs",
    ],
)
def test_parse_url_rejects_other_forms_naming_the_masked_url(url: str) -> None:
    """Any other URL is a one-line ConfigError that names the URL with its password masked."""
    with pytest.raises(ConfigError) as caught:
        parse_url(url)
    message = str(caught.value)
    assert url.replace("hunter2", "***") in message
    assert "hunter2" not in message
    assert "\n" not in message


def test_unopenable_sqlite_paths_are_store_errors(tmp_path: Path) -> None:
    """A missing directory, a directory path or a missing file is a one-line StoreError."""
    missing_dir = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.sqlite'}"
    a_directory = f"sqlite:///{tmp_path}"
    missing_file = f"sqlite:///{tmp_path / 'never-written.sqlite'}"
    table = recommendations(ranked_rows(["a"], ["x"], 1))
    for url in (missing_dir, a_directory):
        with pytest.raises(StoreError, match="cannot open SQLite database") as caught:
            write_tables(url, {"recommendations": table})
        assert url in str(caught.value)
        assert "\n" not in str(caught.value)
    with pytest.raises(StoreError, match="cannot open SQLite database"):
        read_recommendations(missing_file, "a")
    assert not (tmp_path / "never-written.sqlite").exists()


def test_new_sqlite_file_appears_only_when_complete(tmp_path: Path) -> None:
    """A new file is built aside: a crashed load leaves nothing at the target (no stray
    either), a finished one is an ordinary rollback-journal database holding every row."""
    path = tmp_path / "fresh.sqlite"
    url = f"sqlite:///{path}"
    recs = recommendations(ranked_rows([f"u{i}" for i in range(300)], ["x", "y"], 2))
    with pytest.raises(RuntimeError, match="mid-load"):
        write_tables(url, {"recommendations": failing_batches(recs, 2)})
    assert list(tmp_path.iterdir()) == []
    write_tables(url, {"recommendations": recs.to_batches(max_chunksize=100)})
    assert list(tmp_path.iterdir()) == [path]
    assert raw_query(url, "PRAGMA journal_mode") == [("delete",)]
    assert raw_query(url, "SELECT count(*) FROM recommendations") == [(recs.num_rows,)]
    assert read_recommendations(url, "u7") == expected_for(recs, "u7")


def test_reading_a_table_never_written_is_a_store_error(sqlite_url: str) -> None:
    """Reading similar items from a store that only has recommendations names the problem."""
    write_tables(sqlite_url, {"recommendations": recommendations(ranked_rows(["a"], ["x"], 1))})
    with pytest.raises(StoreError, match="no such table: similar_items"):
        read_similar(sqlite_url, "x")


def test_unreachable_postgres_is_a_store_error_without_password() -> None:
    """A server that refuses connections is a one-line ShopscaleError with the password masked."""
    url = "postgresql://shop:hunter2@127.0.0.1:1/recs"
    with pytest.raises(ShopscaleError) as caught:
        read_recommendations(url, "a")
    message = str(caught.value)
    assert isinstance(caught.value, StoreError)
    assert message.startswith("postgresql://shop:***@127.0.0.1:1/recs: cannot connect")
    assert "hunter2" not in message
    assert "\n" not in message


ids = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6)


@st.composite
def recommendation_tables(draw: st.DrawFn) -> pa.Table:
    """Small recommendations tables: unique users, ranks 1..n per user, rows in any order."""
    users = draw(st.lists(ids, max_size=5, unique=True))
    item = st.tuples(ids, st.floats(allow_nan=False), st.sampled_from(["model", "backfill"]))
    rows = [
        (user, rank, item_id, score, source)
        for user in users
        for rank, (item_id, score, source) in enumerate(
            draw(st.lists(item, min_size=1, max_size=4)), 1
        )
    ]
    return recommendations(draw(st.permutations(rows)))


def check_reads_match(url: str, table: pa.Table, other_user: str) -> None:
    """Write ``table``; each user (and one maybe-absent user) reads back exactly their rows."""
    write_tables(url, {"recommendations": table})
    for user_id in {*table.column("user_id").to_pylist(), other_user}:
        assert read_recommendations(url, user_id) == expected_for(table, user_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=recommendation_tables(), other_user=ids)
def test_read_returns_exactly_the_users_rows_by_rank_sqlite(
    tmp_path_factory: pytest.TempPathFactory, table: pa.Table, other_user: str
) -> None:
    """For any small table, a SQLite read returns exactly that user's rows ordered by rank."""
    url = f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.sqlite'}"
    check_reads_match(url, table, other_user)


@pytest.mark.postgres
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=recommendation_tables(), other_user=ids)
def test_read_returns_exactly_the_users_rows_by_rank_postgres(
    postgres_url: str, table: pa.Table, other_user: str
) -> None:
    """For any small table, a PostgreSQL read returns exactly that user's rows ordered by rank."""
    check_reads_match(postgres_url, table, other_user)


def test_every_column_type_round_trips_with_nulls_from_sliced_batches(store_url: str) -> None:
    """Each supported type, extreme values and NULLs included, reads back exactly, even when the
    batches are slices that start inside their Arrow buffers."""
    types = {
        "s": pa.string(),
        "ls": pa.large_string(),
        "b": pa.bool_(),
        "i8": pa.int8(),
        "i16": pa.int16(),
        "i32": pa.int32(),
        "i64": pa.int64(),
        "u8": pa.uint8(),
        "u16": pa.uint16(),
        "u32": pa.uint32(),
        "f32": pa.float32(),
        "f64": pa.float64(),
    }
    schema = pa.schema(
        [pa.field("k", pa.int32(), nullable=False)] + [pa.field(n, t) for n, t in types.items()]
    )
    rows = [
        [0, "", "", False, -128, -32768, -(2**31), -(2**63), 0, 0, 0, -0.0, 5e-324],
        [1, None, None, None, None, None, None, None, None, None, None, None, None],
        [
            2,
            'Zoë\n"x"',
            "用户\\N",
            True,
            127,
            32767,
            2**31 - 1,
            2**63 - 1,
            255,
            65535,
            2**32 - 1,
            1.5,
            1e308,
        ],
        [3, "🛒", "a,b", True, 1, 2, 3, 4, 5, 6, 7, float("inf"), -float("inf")],
        [4, "tab\t", None, False, None, 9, None, 10, None, 11, None, 0.1, None],
    ]
    table = pa.Table.from_pylist(
        [dict(zip(schema.names, row, strict=True)) for row in rows], schema=schema
    )
    batches = [table.to_batches()[0].slice(offset, 2) for offset in (0, 2, 4)]
    write_tables(store_url, {"all_types": batches}, schemas={"all_types": schema})
    columns = ", ".join(schema.names)
    stored = raw_query(store_url, f"SELECT {columns} FROM all_types ORDER BY k")
    f32 = schema.names.index("f32")  # real: compared as float32 (psycopg reads it as text)

    def as_f32(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(np.float32(v) if k == f32 and v is not None else v for k, v in enumerate(row))

    expected = [as_f32(tuple(row)) for row in rows]
    stored = [as_f32(row) for row in stored]
    assert stored == expected  # SQLite's 0/1 booleans compare equal to False/True
