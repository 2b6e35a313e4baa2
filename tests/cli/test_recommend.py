"""``shopscale recommend``/``show``/``similar``/``doctor`` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from shopscale.store.sql import read_recommendations, read_similar
from shopscale.store.versions import VersionedFolder
from tests.cli.conftest import Runner
from tests.store.results import (
    leftovers,
    read_results,
    recommend_cmd,
    run_recommend,
    shopscale_env,
)


def test_recommend_writes_every_output(shopscale: Runner, small_log: Path, tmp_path: Path) -> None:
    """One run writes recommendations, similar items, the SQLite export asked for, rejects
    and a summary that adds up."""
    shopscale("recommend", str(small_log), "--out", "recs", "--top", "7", "--db", "sqlite")
    out = tmp_path / "recs"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows_read"] == 3000 == summary["accepted"] + summary["rejected"]
    assert summary["users"] == 150
    recs = pq.read_table(out / "recommendations.parquet")
    assert recs.num_rows == 150 * 7 == summary["recommendations"]
    assert set(summary["seconds"]) == {
        "read+validate",
        "encode",
        "map",
        "model",
        "reduce",
        "rank",
        "write",
    }
    url = summary["outputs"]["db"]
    rows = [r for r in recs.to_pylist() if r["user_id"] == "42"]
    assert read_recommendations(url, "42") == rows
    sim = pq.read_table(out / "similar_items.parquet").to_pylist()
    item = sim[0]["item_id"]
    assert read_similar(url, item) == sorted(
        [r for r in sim if r["item_id"] == item], key=lambda r: (r["action"], r["rank"])
    )


def test_same_input_same_bytes(shopscale: Runner, small_log: Path, tmp_path: Path) -> None:
    """Two runs on the same input write byte-identical result files (Parquet and CSV)."""
    for name in ("a", "b"):
        shopscale("recommend", str(small_log), "--out", name, "--db", "none", "--preview", "0")
        shopscale(
            "recommend", str(small_log), "--out", f"{name}csv", "--format", "csv", "--db", "none"
        )
    for f in ("recommendations.parquet", "similar_items.parquet"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert (tmp_path / "acsv/recommendations.csv").read_bytes() == (
        tmp_path / "bcsv/recommendations.csv"
    ).read_bytes()


def test_csv_and_jsonl_hold_the_same_rows(
    shopscale: Runner, small_log: Path, tmp_path: Path
) -> None:
    """--format csv and jsonl write the same rows as the Parquet file, with ids kept as text."""
    for fmt in ("parquet", "csv", "jsonl"):
        shopscale("recommend", str(small_log), "--out", fmt, "--format", fmt, "--db", "none")
    want = pq.read_table(tmp_path / "parquet" / "recommendations.parquet").to_pylist()
    con = duckdb.connect()
    csv_rows = con.execute(
        "SELECT user_id, rank::INT, item_id, score::DOUBLE, source "
        "FROM read_csv(?, all_varchar=true)",
        [str(tmp_path / "csv" / "recommendations.csv")],
    ).fetchall()
    lines = (tmp_path / "jsonl" / "recommendations.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == want
    assert [dict(zip(want[0], r, strict=True)) for r in csv_rows] == want


def test_too_many_rejects_fails_with_one_line(
    shopscale: Runner, tmp_path: Path, data_dir: Path
) -> None:
    """Over the reject budget the run exits 2 with one line naming the counts and the rejects
    file, which is kept apart from the (unpublished) result."""
    proc = shopscale("recommend", str(data_dir / "broken.csv"), "--out", "r", check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "6 of 9 rows rejected" in proc.stderr and "r/last-failed/rejects.csv" in proc.stderr
    rejects = (tmp_path / "r" / "last-failed" / "rejects.csv").read_text().splitlines()
    assert len(rejects) == 1 + 6
    assert not (tmp_path / "r" / "rejects.csv").exists()


def test_missing_input_is_one_line(shopscale: Runner) -> None:
    """A missing file is exit 2 and one line naming it, never a traceback."""
    proc = shopscale("recommend", "nope.csv", check=False)
    assert proc.returncode == 2
    assert "nope.csv: no such file or folder" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_config_typo_names_file_and_key(shopscale: Runner, small_log: Path, tmp_path: Path) -> None:
    """An unknown key in the TOML file is an error naming the file and the key."""
    (tmp_path / "shopscale.toml").write_text("[recommend]\nmax_similar = 5\n")
    proc = shopscale("recommend", str(small_log), "--config", "shopscale.toml", check=False)
    assert proc.returncode == 2
    assert "shopscale.toml: [recommend.max_similar] unknown key" in proc.stderr


def test_config_file_and_flag_override(shopscale: Runner, small_log: Path, tmp_path: Path) -> None:
    """Settings come from the TOML file, and a CLI flag overrides the file."""
    (tmp_path / "s.toml").write_text(
        '[recommend]\nn = 3\nsimilarity = "cosine"\n[output]\ndb = "none"\n'
    )
    shopscale("recommend", str(small_log), "--config", "s.toml", "--out", "r", "--top", "4")
    recs = pq.read_table(tmp_path / "r" / "recommendations.parquet")
    assert recs.num_rows == 150 * 4
    assert set(
        pq.read_table(tmp_path / "r" / "similar_items.parquet").column("action").to_pylist()
    ) == {"any"}
    assert not (tmp_path / "r" / "shopscale.sqlite").exists()


def test_show_and_similar(shopscale: Runner, small_log: Path) -> None:
    """show prints a user's ranked list; similar prints an item's neighbours per action."""
    shopscale("recommend", str(small_log), "--out", "recs", "--db", "none")
    shown = shopscale("show", "recs", "--user", "42").stdout
    assert "recommendations for user 42" in shown and "model" in shown
    sim = shopscale("similar", "recs", "--item", "3", "--action", "viewed").stdout
    assert "items that go with 3" in sim and "viewed" in sim
    missing = shopscale("show", "recs", "--user", "nobody", check=False)
    assert missing.returncode == 2 and "unknown user" in missing.stderr


def test_doctor_lists_versions(shopscale: Runner) -> None:
    """doctor prints Python, Java and DuckDB lines."""
    text = shopscale("doctor").stdout
    assert "python" in text and "java" in text and "duckdb" in text


@pytest.mark.postgres
def test_recommend_into_postgresql(
    shopscale: Runner, small_log: Path, tmp_path: Path, postgres_url: str
) -> None:
    """--db postgresql://... loads both tables into a real server, equal to the files."""
    shopscale("recommend", str(small_log), "--out", "pg", "--db", postgres_url)
    recs = pq.read_table(tmp_path / "pg" / "recommendations.parquet").to_pylist()
    for user in ("0", "42", "149"):
        assert read_recommendations(postgres_url, user) == [r for r in recs if r["user_id"] == user]
    sim = pq.read_table(tmp_path / "pg" / "similar_items.parquet").to_pylist()
    assert read_similar(postgres_url, "3", action="carted") == [
        r for r in sim if r["item_id"] == "3" and r["action"] == "carted"
    ]


def test_threads_and_memory_limit_do_not_change_results(
    shopscale: Runner, small_log: Path, tmp_path: Path
) -> None:
    """One thread and a small DuckDB memory limit give byte-identical results to the defaults."""
    shopscale("recommend", str(small_log), "--out", "a", "--db", "none")
    shopscale(
        "recommend",
        str(small_log),
        "--out",
        "b",
        "--db",
        "none",
        "--threads",
        "1",
        "--memory-limit",
        "64MB",
    )
    for f in ("recommendations.parquet", "similar_items.parquet"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_help_shows_every_default_in_brackets(shopscale: Runner) -> None:
    """--help keeps "[geometric]" and "[routes]": bracketed words are text, not style tags,
    and each command names the config sections it reads."""
    text = shopscale("recommend", "--help").stdout
    for shown in ("[geometric]", "[purchased]", "[llr]", "[events], [recommend], [output]"):
        assert shown in text
    assert "TOML file with a [routes] section" in shopscale("routes", "plan", "--help").stdout


def test_usage_errors_are_usage_errors_not_crashes(shopscale: Runner) -> None:
    """An unknown option or a missing argument exits 2 with click's message, not the crash
    path's "unexpected error ... attach it to a bug report" (exit 3)."""
    for args, words in (
        (("recommend", "--bogus"), "No such option"),
        (("recommend",), "Missing"),
        (("routes", "plan", "a.vrp", "b.vrp", "--out", "x"), "unexpected extra argument"),
    ):
        proc = shopscale(*args, check=False)
        text = proc.stdout + proc.stderr
        assert proc.returncode == 2, text
        assert words in text and "unexpected error" not in text


def test_show_reads_the_latest_run_whatever_its_format(
    shopscale: Runner, small_log: Path, tmp_path: Path
) -> None:
    """After a Parquet run and then a CSV run into one folder, show reads the CSV run's lists."""
    shopscale("recommend", str(small_log), "--out", "recs", "--top", "3", "--preview", "0")
    csv = ("--format", "csv", "--db", "none")
    shopscale("recommend", str(small_log), "--out", "recs", "--top", "2", *csv)
    shown = shopscale("show", "recs", "--user", "42").stdout
    assert "│    2 │" in shown and "│    3 │" not in shown
    assert not (tmp_path / "recs" / "recommendations.parquet").exists()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "notes.txt", "not a results file"),
        (lambda d: d, "not a results folder"),
        (lambda d: d / "nothing-here", "no such file or folder"),
        (lambda d: d / "broken.parquet", "cannot read it as a results file"),
    ],
)
def test_show_on_something_else_is_one_line(
    shopscale: Runner, tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    """show/similar on a non-results file or folder, or a corrupt Parquet file: exit 2, one line."""
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    target = make(tmp_path)
    for command, option in (("show", "--user"), ("similar", "--item")):
        proc = shopscale(command, str(target), option, "1", check=False)
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_out_and_db_fail_before_reading(shopscale: Runner, tmp_path: Path) -> None:
    """--out that is a file, or a --db URL that is malformed or in a missing folder, exits 2
    with one line before the input (here a file that does not parse) is read."""
    events = tmp_path / "events.csv"
    events.write_text("garbage that would be rejected row by row\n" * 10)
    (tmp_path / "taken").write_text("x")
    for args, words in (
        (("--out", "taken"), "taken: exists and is not a folder"),
        (("--out", "taken/sub"), "is not a folder"),
        (("--db", "mysql://x"), "expected sqlite:///path.sqlite"),
        (("--db", "sqlite:///missing/x.sqlite"), "does not exist"),
    ):
        proc = shopscale("recommend", str(events), *args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr and "rejected" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_versions_and_rollback(shopscale: Runner, small_log: Path, tmp_path: Path) -> None:
    """versions lists the kept runs (--keep-versions), rollback publishes the previous one."""
    for top in ("2", "3", "4"):
        shopscale(
            "recommend", str(small_log), "--out", "recs", "--top", top, "--keep-versions", "2"
        )
    listed = shopscale("versions", "recs").stdout
    assert listed.count("000002-") == 1 and listed.count("000003-") == 1 and "000001-" not in listed
    shopscale("rollback", "recs")
    assert pq.read_table(tmp_path / "recs" / "recommendations.parquet").num_rows == 150 * 3
    shopscale("rollback", "recs", "--to", VersionedFolder(tmp_path / "recs").versions()[-1].id)
    assert pq.read_table(tmp_path / "recs" / "recommendations.parquet").num_rows == 150 * 4
    proc = shopscale("rollback", "recs", "--to", "nope", check=False)
    assert proc.returncode == 2 and "no version 'nope'" in proc.stderr
    assert shopscale("versions", "nowhere", check=False).returncode == 2


def test_ctrl_c_exits_130_and_keeps_the_previous_result(small_log: Path, tmp_path: Path) -> None:
    """SIGINT to a run stopped mid-job: exit 130, "interrupted", the previous result intact,
    and the next run leaves nothing behind."""
    env = shopscale_env(tmp_path)
    out = tmp_path / "recs"
    assert run_recommend(small_log, out, "--top", "3", env=env).returncode == 0
    before = read_results(out)
    pause = {**env, "SHOPSCALE_FAULT": "after:map", "SHOPSCALE_FAULT_SIGNAL": "STOP"}
    proc = subprocess.Popen(
        recommend_cmd(small_log, out, "--top", "5"),
        env=pause,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    assert os.WIFSTOPPED(status)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
    assert read_results(out) == before
    assert run_recommend(small_log, out, "--top", "3", env=env).returncode == 0
    assert read_results(out) == before and leftovers(out) == []


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_preview_shows_the_first_users_top_five(
    shopscale: Runner, small_log: Path, tmp_path: Path, fmt: str
) -> None:
    """The preview prints the first ``--preview`` users in id order, each with the first five
    items of their list, as the results file has them."""
    proc = shopscale(
        "recommend", str(small_log), "--out", "recs", "--db", "none", "--format", fmt,
        "--preview", "2", "--top", "7", "--no-backfill",
    )  # fmt: skip
    recs = duckdb.sql(
        f"SELECT CAST(user_id AS VARCHAR) AS u, CAST(item_id AS VARCHAR) AS i, "
        f"CAST(rank AS INTEGER) AS r FROM '{tmp_path / 'recs' / f'recommendations.{fmt}'}'"
    ).fetchall()
    users = sorted({u for u, _, _ in recs})
    preview = proc.stdout.split("a few users' top 5")[1]
    shown = [line for line in preview.splitlines() if line.startswith("│")]
    shown_users = [line.split("│")[1].strip() for line in shown if line.split("│")[1].strip()]
    assert shown_users == users[:2]
    first = " ".join(line for line in shown if line.split("│")[1].strip() == users[0])
    top = [i for u, i, r in sorted(recs, key=lambda x: x[2]) if u == users[0] and r <= 5]
    for item in top:
        assert f"{item} (" in first
