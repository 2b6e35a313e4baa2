"""``shopscale evaluate``, ``tune`` and ``import`` as a user runs them."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from shopscale.evaluate.tune import SHOPSCALE_DEFAULTS, SHOPSCALE_GRID
from tests.cli.conftest import Runner, one_line_error


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


def _no_late_purchases(path: Path) -> Path:
    """A log whose purchases all come first: a time split holds out no purchase at all."""
    lines = ["user_id,action,item_id,timestamp"]
    for u in range(30):
        lines.append(f"u{u},purchased,i{u % 5},{1_700_000_000 + u}")
        lines += [f"u{u},viewed,i{(u + k) % 7},{1_700_001_000 + 100 * u + k}" for k in range(20)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluate_without_test_users_isone_line_error(shopscale: Runner, tmp_path: Path) -> None:
    """evaluate on a split with no held-out purchase exits 2 saying why, not all-zero tables."""
    log = _no_late_purchases(tmp_path / "early.csv")
    proc = shopscale(
        "evaluate", str(log), "--baselines", "popularity", "--budget", "1", check=False
    )
    line = one_line_error(proc)
    assert "left no test users" in line and "no 'purchased' event" in line
    assert "ndcg" not in proc.stdout


def test_tune_without_validation_users_isone_line_error(shopscale: Runner, tmp_path: Path) -> None:
    """tune with no validation users exits 2 and writes no "best" config at NDCG 0."""
    log = _no_late_purchases(tmp_path / "early.csv")
    proc = shopscale("tune", str(log), "--budget", "2", "--out", "best.toml", check=False)
    assert "left no validation users" in one_line_error(proc)
    assert not (tmp_path / "best.toml").exists()


def test_evaluate_buyers_without_history_are_the_reason(shopscale: Runner, tmp_path: Path) -> None:
    """Held-out buyers with no training events are named as the reason (holdout split)."""
    log = tmp_path / "buyers.csv"
    rows = [f"b{u},purchased,i{u % 3},{1_700_000_000 + u}" for u in range(20)]
    log.write_text("user_id,action,item_id,timestamp\n" + "\n".join(rows) + "\n")
    proc = shopscale("evaluate", str(log), "--split", "holdout:0.5", check=False)
    line = one_line_error(proc)
    assert "left no test users" in line and "has no training events" in line


@pytest.mark.parametrize(
    "command",
    [
        ("tune", "--out", "blocker/best.toml"),
        ("tune", "--out", "."),
        ("evaluate", "--report", "blocker"),
        ("evaluate", "--report", "blocker/report"),
    ],
)
def test_unwritable_output_fails_before_reading_the_log(
    shopscale: Runner, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """An output under a regular file, a file where a folder belongs or a folder where a file
    belongs is one line naming it, before the (missing) input log is even read."""
    (tmp_path / "blocker").write_text("a regular file\n")
    name, flag, target = command
    proc = shopscale(name, "missing.csv", flag, target, check=False)
    line = one_line_error(proc)
    assert target in line and "missing.csv" not in line
    assert (tmp_path / "blocker").read_text() == "a regular file\n"


def test_tune_budget_must_be_positive(shopscale: Runner, shop_csv: Path) -> None:
    """``tune --budget 0`` is refused in one line naming the flag, before any search."""
    proc = shopscale("tune", str(shop_csv), "--budget", "0", check=False)
    assert "[--budget]" in one_line_error(proc)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("--k", "0"), "--k"),
        (("--k", "10,99999999999999999999999"), "--k"),
        (("--tasks", "next-purchase,discovry"), "--tasks"),
        (("--seed", "-1"), "--seed"),
        (("--split", "time:nan"), "--split"),
        (("--budget", "-3"), "--budget"),
    ],
)
def test_bad_evaluate_flag_is_one_line_naming_it(
    shopscale: Runner, shop_csv: Path, args: tuple[str, ...], flag: str
) -> None:
    """An out-of-range, non-finite or unknown evaluate setting names its flag in one line."""
    proc = shopscale("evaluate", str(shop_csv), *args, check=False)
    assert f"command line: [{flag}]" in one_line_error(proc)


def test_tune_random_search_writes_its_search_in_the_config(
    shopscale: Runner, shop_csv: Path, tmp_path: Path
) -> None:
    """The written config's header says how it was found (split, budget, search) and the gain
    over the defaults with its interval on the validation users."""
    shopscale(
        "tune", str(shop_csv), "--split", "time:0.8", "--budget", "2", "--search", "random",
        "--out", "best.toml",
    )  # fmt: skip
    first, second = (tmp_path / "best.toml").read_text().splitlines()[:2]
    assert "--split time:0.8 --task next-purchase --budget 2 --search random" in first
    assert "of 2 configurations" in first
    assert second.startswith("# defaults ") and "95 % paired interval" in second


def test_tune_keeps_the_defaults_when_its_gain_is_within_noise(
    shopscale: Runner, shop_csv: Path, tmp_path: Path
) -> None:
    """On the fixed shop log the best of six configurations beats the defaults by less than
    the validation users can tell (interval reaching 0): by default tune writes the defaults
    and names the best in the header; ``--adopt best`` writes the best, and the two files
    differ in exactly the settings that header names."""
    common = ("tune", str(shop_csv), "--split", "time:0.8", "--budget", "6")
    shopscale(*common, "--out", "kept.toml")
    shopscale(*common, "--adopt", "best", "--out", "best.toml")
    text = (tmp_path / "kept.toml").read_text()
    kept = tomllib.loads(text)["recommend"]
    best = tomllib.loads((tmp_path / "best.toml").read_text())["recommend"]
    assert "within noise of the defaults at 95 %: the defaults are kept" in text
    assert {k: kept[k] for k in SHOPSCALE_DEFAULTS} == SHOPSCALE_DEFAULTS
    changed = {k: v for k, v in best.items() if kept[k] != v}
    assert changed, "the search found nothing better: the case this test needs is gone"
    named = ", ".join(f"{k} = {v!r}" for k, v in changed.items())
    assert f"# best found, not written (--adopt best writes it): {named}" in text
    assert "best found" not in (tmp_path / "best.toml").read_text()


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--search", "grid", "coordinate or random"),
        ("--task", "buy", "next-purchase or discovery"),
        ("--adopt", "always", "significant or best"),
    ],
)
def test_tune_names_a_choice_it_does_not_know(
    shopscale: Runner, shop_csv: Path, tmp_path: Path, flag: str, value: str, expected: str
) -> None:
    """``--search``, ``--task`` and ``--adopt`` take one of their choices; anything else is a
    one-line error naming the flag, the choices and the value, and no file is written."""
    proc = shopscale("tune", str(shop_csv), flag, value, "--out", "b.toml", check=False)
    line = one_line_error(proc)
    assert flag in line and expected in line and f"'{value}'" in line
    assert not (tmp_path / "b.toml").exists()


def test_tune_of_the_blend_starts_at_its_defaults(
    shopscale: Runner, shop_csv: Path, tmp_path: Path
) -> None:
    """With one configuration ``tune --model shopscale-blend`` scores the prototype's own
    defaults (not its grid's first values) and writes them: never worse than the defaults."""
    from shopscale.cli.evaluate import BLEND_START

    shopscale(
        "tune", str(shop_csv), "--model", "shopscale-blend", "--split", "time:0.8",
        "--budget", "1", "--out", "blend.toml",
    )  # fmt: skip
    written = tomllib.loads((tmp_path / "blend.toml").read_text())["blend"]
    assert written == {"weights": {}, **BLEND_START}
    assert written["self_weight"] == 1_000_000.0
