"""``shopscale evaluate``, ``tune`` and ``import`` as a user runs them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tests.cli.conftest import Runner


def test_evaluate_writes_report(shopscale: Runner, shop_csv: Path, tmp_path: Path) -> None:
    """evaluate prints both tasks and writes index.html, the PNG plots and results.json."""
    proc = shopscale(
        "evaluate",
        str(shop_csv),
        "--split",
        "time:0.8",
        "--k",
        "5,10",
        "--baselines",
        "popularity,own-history,itemknn",
        "--budget",
        "2",
        "--report",
        "report",
    )
    assert "next-purchase" in proc.stdout and "discovery" in proc.stdout
    report = tmp_path / "report"
    names = {p.name for p in report.iterdir()}
    assert {"index.html", "results.json", "coverage.png", "timing.png"} <= names
    assert {"metrics-next-purchase.png", "metrics-discovery.png"} <= names
    result = json.loads((report / "results.json").read_text())
    assert list(result["models"]) == [
        "popularity",
        "own-history",
        "itemknn-cosine",
        "itemknn-bm25",
        "shopscale",
        "shopscale-blend",
    ]
    tuning = result["models"]["itemknn-cosine"]["tuning"]
    assert len(tuning) == 2  # the budget, spent on the validation split
    assert "ndcg@5" in result["models"]["shopscale"]["tasks"]["discovery"]
    assert "shopscale-blend" in (report / "index.html").read_text()


def test_evaluate_refuses_time_split_without_timestamps(
    shopscale: Runner,
    tmp_path: Path,
) -> None:
    """A log without timestamps and --split time:0.9 fails in one line that names holdout."""
    path = tmp_path / "plain.csv"
    path.write_text("user_id,action,item_id\na,viewed,x\na,purchased,x\nb,purchased,y\n")
    proc = shopscale("evaluate", str(path), "--split", "time:0.9", check=False)
    assert proc.returncode == 2
    assert "holdout" in proc.stdout + proc.stderr


def test_tune_writes_a_config_recommend_accepts(
    shopscale: Runner,
    shop_csv: Path,
    tmp_path: Path,
) -> None:
    """tune writes a [recommend] TOML that ``shopscale recommend --config`` runs with."""
    shopscale("tune", str(shop_csv), "--split", "time:0.8", "--budget", "3", "--out", "best.toml")
    cfg = tomllib.loads((tmp_path / "best.toml").read_text())
    assert cfg["recommend"]["primary"] == "purchased"
    assert set(cfg["recommend"]) <= {
        "primary",
        "weights",
        "max_similar_per_item",
        "max_items_per_user",
        "half_life_days",
        "half_life_events",
    }
    shopscale("recommend", str(shop_csv), "--config", "best.toml", "--out", "recs", "--db", "none")
    assert (tmp_path / "recs" / "recommendations.parquet").is_file()
