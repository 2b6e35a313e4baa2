"""``shopscale evaluate``, ``tune`` and ``import`` as a user runs them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from shopscale.evaluate.tune import SHOPSCALE_GRID
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
    """tune writes a [recommend] TOML that ``shopscale recommend --config`` runs with; the
    job's stage timings of every trial go to the log file, not the screen."""
    proc = shopscale(
        "tune", str(shop_csv), "--split", "time:0.8", "--budget", "3", "--out", "best.toml"
    )
    assert "reduce took" not in proc.stdout + proc.stderr
    assert "reduce took" in (tmp_path / "logs" / "last-run.log").read_text()
    assert "ndcg@10" in proc.stdout
    cfg = tomllib.loads((tmp_path / "best.toml").read_text())
    assert cfg["recommend"]["primary"] == "purchased"
    assert set(cfg["recommend"]) <= {"primary", *SHOPSCALE_GRID}
    shopscale("recommend", str(shop_csv), "--config", "best.toml", "--out", "recs", "--db", "none")
    assert (tmp_path / "recs" / "recommendations.parquet").is_file()


def test_results_table_keeps_every_figure_whole_at_80_columns() -> None:
    """On an 80-column terminal the table shows every figure in full (none cut to "0.0…")."""
    from shopscale.cli._common import out
    from shopscale.cli.evaluate import METRICS, print_results

    def model(base: float) -> dict[str, object]:
        metrics = {f"{m}@10": base + i / 1000 for i, m in enumerate(METRICS)}
        return {"seconds": 12.3, "tasks": {"next-purchase": {**metrics, "model_share": 0.86}}}

    result = {
        "params": {"tasks": ["next-purchase"], "k": [10]},
        "data": {"test_users": {"next-purchase": 65}},
        "models": {"shopscale-jaccard": model(0.051), "itemknn-bm25": model(0.2)},
    }
    width = out.width
    out.width = 80
    try:
        with out.capture() as captured:
            print_results(result)
    finally:
        out.width = width
    text = captured.get()
    assert "…" not in text
    assert all(f"{0.051 + i / 1000:.3f}" in text for i in range(len(METRICS)))
    assert "shopscale-jaccard" in text and "recall" in text and "12.3" in text
