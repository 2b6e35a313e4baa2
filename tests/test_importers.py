"""Importers: each public data set folder becomes events that ``recommend`` reads."""

from __future__ import annotations

import subprocess
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
    "bookcrossing-caserec": (
        "bookcrossing-caserec-subset",
        272_678,
        {"accessed": 210_022, "rated": 62_656},
    ),
    "lastfm-hetrec2011": (
        "lastfm-hetrec2011-2k",
        279_313,
        {"listened": 92_834, "tagged": 186_479},
    ),
    "diginetica": ("diginetica", 30_416, {"purchased": 18_025, "viewed": 12_391}),
    "yoochoose": ("yoochoose-sample", 83_846, {"clicked": 83_846}),
}
UNTIMED = {"retailrocket-caserec", "bookcrossing-caserec", "lastfm-hetrec2011"}


@pytest.mark.realdata
@pytest.mark.parametrize("name", list(FOLDERS))
def test_import_counts_match_the_readmes(shared_data: Path, name: str) -> None:
    """Every row of the data set becomes one event, with the action counts its README states."""
    folder, rows, actions = FOLDERS[name]
    table = import_dataset(name, shared_data / folder)
    assert table.num_rows == rows
    counts = {r["values"]: r["counts"] for r in pc.value_counts(table["action"]).to_pylist()}
    assert counts == actions
    assert ("timestamp" in table.column_names) == (name not in UNTIMED)
    assert table.column_names[:3] == ["user_id", "action", "item_id"]


def _slice(src: Path, dst: Path, name: str, lines: list[int]) -> None:
    """Copy the given 1-based lines of the real file ``src/name`` to ``dst/name``, bytes as is."""
    dst.mkdir(exist_ok=True)
    raw = (src / name).read_bytes().splitlines(keepends=True)
    (dst / name).write_bytes(b"".join(raw[n - 1] for n in lines))


@pytest.mark.realdata
def test_bookcrossing_slice(shared_data: Path, tmp_path: Path) -> None:
    """User 1's 162 history rows become 130 accessed and 32 rated events (the rated ones are
    exactly the books in the ratings file), in history order, without timestamps."""
    src = shared_data / "bookcrossing-caserec-subset"
    _slice(src, tmp_path, "book_history.dat", list(range(1, 164)))
    _slice(src, tmp_path, "book_ratings.dat", list(range(1, 34)))
    table = import_dataset("bookcrossing-caserec", tmp_path)
    assert table.column_names == ["user_id", "action", "item_id"]
    rows = table.to_pylist()
    assert len(rows) == 162 and {r["user_id"] for r in rows} == {"1"}
    assert [r["item_id"] for r in rows[:3]] == ["152", "153", "2176"]
    rated = {r["item_id"] for r in rows if r["action"] == "rated"}
    ratings = (src / "book_ratings.dat").read_text().splitlines()[1:33]
    assert rated == {line.split("\t")[1] for line in ratings} and len(rated) == 32
    assert sum(r["action"] == "accessed" for r in rows) == 130


@pytest.mark.realdata
def test_lastfm_slice(shared_data: Path, tmp_path: Path) -> None:
    """Listens (CRLF file) come first in file order, then tag assignments by date."""
    src = shared_data / "lastfm-hetrec2011-2k"
    _slice(src, tmp_path, "user_artists.dat", [1, 2, 3])
    _slice(src, tmp_path, "user_taggedartists.dat", [1, 2, 3, 4, 103, 104])
    table = import_dataset("lastfm-hetrec2011", tmp_path)
    assert table.column_names == ["user_id", "action", "item_id"]
    got = [(r["user_id"], r["action"], r["item_id"]) for r in table.to_pylist()]
    assert got == [
        ("2", "listened", "51"),
        ("2", "listened", "52"),
        ("4", "tagged", "51"),  # March 2007 (line 104)
        ("4", "tagged", "51"),  # December 2007 (line 103)
        ("2", "tagged", "52"),
        ("2", "tagged", "52"),
        ("2", "tagged", "52"),
    ]


@pytest.mark.realdata
def test_diginetica_slice(shared_data: Path, tmp_path: Path) -> None:
    """Purchases and views get their day as timestamp and come in (day, session, timeframe)
    order; anonymous sessions are users ``s<session>``, known users ``u<user>``."""
    src = shared_data / "diginetica"
    _slice(src, tmp_path, "train-purchases.csv", [1, 2, 3, 4])
    _slice(src, tmp_path, "sample_train-item-views.csv", [1, 2, 3, 4])
    rows = import_dataset("diginetica", tmp_path).to_pylist()
    may6, may9, may27 = 1_462_492_800, 1_462_752_000, 1_464_307_200
    assert rows == [
        {"user_id": "u18278", "action": "purchased", "item_id": "25911", "timestamp": may6},
        {"user_id": "s151", "action": "purchased", "item_id": "175874", "timestamp": may6},
        {"user_id": "s1", "action": "viewed", "item_id": "32118", "timestamp": may9},
        {"user_id": "s1", "action": "viewed", "item_id": "81766", "timestamp": may9},
        {"user_id": "s1", "action": "viewed", "item_id": "31331", "timestamp": may9},
        {"user_id": "u7", "action": "purchased", "item_id": "35324", "timestamp": may27},
    ]


@pytest.mark.realdata
def test_yoochoose_slice(shared_data: Path, tmp_path: Path) -> None:
    """Both prepared click files become ``clicked`` events of session users, times cut to the
    whole second."""
    src = shared_data / "yoochoose-sample"
    _slice(src, tmp_path, "yoochoose-clicks-100k_train_full.txt", [1, 2, 3])
    _slice(src, tmp_path, "yoochoose-clicks-100k_test.txt", [1, 2])
    rows = import_dataset("yoochoose", tmp_path).to_pylist()
    assert rows == [
        {"user_id": "1", "action": "clicked", "item_id": "214536502", "timestamp": 1396860669},
        {"user_id": "3", "action": "clicked", "item_id": "214716935", "timestamp": 1396437466},
        {"user_id": "3", "action": "clicked", "item_id": "214832672", "timestamp": 1396438212},
    ]


def test_yoochoose_buys_are_bought(tmp_path: Path) -> None:
    """The challenge's buys file, when present, adds ``bought`` events at their ISO times."""
    (tmp_path / "x_test.txt").write_text("SessionId\tItemId\tTime\n7\t42\t100.9\n")
    (tmp_path / "yoochoose-buys.dat").write_text("7,1970-01-01T00:03:20.123Z,42,99,1\n")
    rows = import_dataset("yoochoose", tmp_path).to_pylist()
    assert [(r["action"], r["timestamp"]) for r in rows] == [("clicked", 100), ("bought", 200)]


BAD_FILES = [
    (
        "diginetica",
        "train-purchases.csv",
        "sessionId;userId;timeframe;eventdate;ordernumber;itemId\n"
        "1;NA;5;2016-01-02;9;77\n2;NA;5;2016-13-02;9;78\n",
        "train-purchases.csv:3: date",
    ),
    (
        "yoochoose",
        "a_test.txt",
        "SessionId\tItemId\tTime\n1\t2\t3.5\n1\t2\tnoon\n",
        "a_test.txt:3: time is not a number",
    ),
    (
        "lastfm-hetrec2011",
        "user_artists.dat",
        "userID\tartistID\tweight\n2\t51\tmany\n",
        "user_artists.dat:2: listen count is not an integer",
    ),
    (
        "bookcrossing-caserec",
        "book_history.dat",
        "user\titem\taccessed\n1\t2\t1\n",
        "book_ratings.dat: missing file",
    ),
]


@pytest.mark.parametrize(("name", "file", "text", "words"), BAD_FILES)
def test_new_importers_name_the_bad_line(
    tmp_path: Path, name: str, file: str, text: str, words: str
) -> None:
    """A bad value (or a missing file) in the new data sets is one InputError naming the file,
    the line and the reason."""
    (tmp_path / file).write_text(text)
    if name == "lastfm-hetrec2011":
        (tmp_path / "user_taggedartists.dat").write_text("userID\tartistID\ttagID\td\tm\ty\n")
    with pytest.raises(InputError, match=words.replace(".", r"\.")):
        import_dataset(name, tmp_path)


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


@pytest.fixture
def cli(request: pytest.FixtureRequest) -> Runner:
    """``python -m shopscale ARGS`` in tmp_path (the runner of tests/cli/conftest.py)."""
    runner: Runner = request.getfixturevalue("shopscale")
    return runner


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a user error (exit 2, no traceback); fails otherwise."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


ODD_FOLDERS: dict[str, tuple[dict[str, bytes | None], str]] = {
    "missing": ({}, "no such folder"),
    "a file": ({"": b"not a folder\n"}, "is a file"),
    "empty": ({"keep": b""}, "u.data: missing file"),
    "u.data a folder": ({"u.data/": None}, "u.data: is a folder"),
    "u.data empty": ({"u.data": b""}, "u.data: cannot parse"),
    "binary": (
        {"u.data": b"\x89PNG\r\n\x1a\n\xff\xfe\x00"},
        "u.data:1: cannot parse: not UTF-8",
    ),
    "short row": ({"u.data": b"1\t2\t5\t88\n1\t2\t3\n"}, "u.data:2: cannot parse: expected 4"),
    "bad rating": ({"u.data": b"1\t2\t5\t88\n1\t2\tx\t9\n"}, "u.data:2: rating is not a number"),
}


@pytest.mark.parametrize("case", list(ODD_FOLDERS))
def test_import_of_an_odd_folder_is_one_line(cli: Runner, tmp_path: Path, case: str) -> None:
    """A missing, empty or wrong data folder (or a broken file in it) exits 2 in one line
    naming the path, the line when there is one, and the reason; nothing is written."""
    files, words = ODD_FOLDERS[case]
    src = tmp_path / "src"
    for name, content in files.items():
        if name == "":
            src.write_bytes(content or b"")
            continue
        src.mkdir(exist_ok=True)
        if content is None:
            (src / name).mkdir()
        else:
            (src / name).write_bytes(content)
    proc = cli("import", "movielens-100k", "src", "--out", "ml.parquet", check=False)
    assert words in _one_line_error(proc)
    assert not (tmp_path / "ml.parquet").exists()


def test_import_of_a_header_only_file_is_an_error(tmp_path: Path) -> None:
    """A data set whose files hold no rows is an InputError, not an empty events file."""
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(InputError, match="no events"):
        import_dataset("movielens-latest-small", tmp_path)


def test_import_line_numbers_count_the_header(tmp_path: Path) -> None:
    """A bad value in a file with a header is reported at its line in the file (header = 1)."""
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,4,10\n1,3,4,x\n")
    with pytest.raises(InputError) as err:
        import_dataset("movielens-latest-small", tmp_path)
    assert err.value.line == 3


@pytest.mark.parametrize("out", ["blocker/ml.parquet", "blocker", "."])
def test_import_unwritable_out_fails_before_reading(cli: Runner, tmp_path: Path, out: str) -> None:
    """--out under a regular file, or a folder, is one line naming it before the (missing)
    data folder is read."""
    (tmp_path / "blocker").write_text("keep\n")
    proc = cli("import", "movielens-100k", "missing", "--out", out, check=False)
    line = _one_line_error(proc)
    assert out in line and "missing" not in line
    assert (tmp_path / "blocker").read_text() == "keep\n"
