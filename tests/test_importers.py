"""Importers: each public data set folder becomes events that ``recommend`` reads."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from shopscale.errors import InputError
from shopscale.importers import import_dataset, write_events
from shopscale.recommend.pipeline import OutputParams, run
from tests.cli.conftest import Runner, shopscale  # noqa: F401  (fixture)

FOLDERS = {
    "retailrocket-caserec": (
        "retailrocket-caserec-subset",
        92_487,
        {"viewed": 78_371, "carted": 9_028, "purchased": 5_088},
    ),
    "taobao": (
        "taobao-userbehavior-sample",
        106_168,
        {"viewed": 94_819, "carted": 5_828, "favorited": 3_171, "purchased": 2_350},
    ),
    "movielens-100k": ("movielens-100k", 100_000, {"purchased": 55_375, "rated": 44_625}),
    "movielens-latest-small": (
        "movielens-latest-small",
        100_836,
        {"purchased": 48_580, "rated": 52_256},
    ),
}


@pytest.mark.realdata
@pytest.mark.parametrize("name", list(FOLDERS))
def test_import_counts_match_the_readmes(shared_data: Path, name: str) -> None:
    """Every row of the data set becomes one event, with the action counts its README states."""
    folder, rows, actions = FOLDERS[name]
    table = import_dataset(name, shared_data / folder)
    assert table.num_rows == rows
    counts = {r["values"]: r["counts"] for r in pc.value_counts(table["action"]).to_pylist()}
    assert counts == actions
    assert ("timestamp" in table.column_names) == (name != "retailrocket-caserec")


def test_movielens_ratings_split_at_four(tmp_path: Path) -> None:
    """A rating of 4 or more is a purchase, anything lower is ``rated``; times are kept."""
    (tmp_path / "u.data").write_text("1\t10\t4\t100\n1\t11\t3\t101\n2\t10\t5\t102\n")
    table = import_dataset("movielens-100k", tmp_path).to_pylist()
    assert [r["action"] for r in table] == ["purchased", "rated", "purchased"]
    assert table[1] == {"user_id": "1", "action": "rated", "item_id": "11", "timestamp": 101}


def test_taobao_unknown_behaviour_names_the_line(tmp_path: Path) -> None:
    """An unknown behaviour type is an InputError naming the file and the line."""
    (tmp_path / "UserBehavior.csv").write_text("1,2,3,pv,100\n1,2,3,click,101\n")
    with pytest.raises(InputError, match=r"UserBehavior.csv:2: unknown behaviour"):
        import_dataset("taobao", tmp_path)


def test_events_without_time_read_in_file_order_from_every_format(tmp_path: Path) -> None:
    """Timestamp-less events (RetailRocket) write to CSV, Parquet and JSON Lines, and the job
    reads each in file order: every row accepted, the same lists from all three."""
    (tmp_path / "rr").mkdir()
    rows = [(u, i) for u in range(12) for i in range(u % 4, u % 4 + 5)]
    for name, keep in (("view", 1), ("add_to_cart", 2), ("purchase", 3)):
        body = "".join(f"{u}\t{i}\t1\n" for u, i in rows if (u + i) % keep == 0)
        (tmp_path / "rr" / f"{name}_ecommerce.dat").write_text("visitorid\titemid\tevent\n" + body)
    table = import_dataset("retailrocket-caserec", tmp_path / "rr")
    lists = {}
    for fmt in ("csv", "parquet", "jsonl"):
        path = tmp_path / f"events.{fmt}"
        assert write_events(table, path) == table.num_rows
        summary = run(path, out=tmp_path / fmt, output=OutputParams(db="none"))
        assert (summary.accepted, summary.rejected) == (table.num_rows, 0)
        assert summary.half_life_days is None  # file order is not time: no decay
        lists[fmt] = pq.read_table(tmp_path / fmt / "recommendations.parquet")
    assert lists["parquet"].equals(lists["csv"]) and lists["jsonl"].equals(lists["csv"])
    header = (tmp_path / "events.csv").read_text().splitlines()[0]
    assert header == '"user_id","action","item_id"'


def test_import_cli_then_recommend(shopscale: Runner, tmp_path: Path) -> None:  # noqa: F811
    """``shopscale import`` writes a file that ``shopscale recommend`` reads without rejects."""
    src = tmp_path / "ml"
    src.mkdir()
    lines = [
        f"{u}\t{i}\t{1 + (u + i) % 5}\t{1_700_000_000 + u * 10 + i}"
        for u in range(20)
        for i in range(8)
    ]
    (src / "u.data").write_text("\n".join(lines) + "\n")
    proc = shopscale("import", "movielens-100k", str(src), "--out", "ml.parquet")
    assert "160 events" in proc.stdout
    shopscale("recommend", "ml.parquet", "--out", "recs", "--db", "none")
    assert (tmp_path / "recs" / "recommendations.parquet").is_file()
