"""``shopscale show --explain`` as a user runs it: each listed item with its reason, tier
score and largest terms, read from the published version's model; misuse is one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from shopscale.cli._explain import terms_text
from shopscale.recommend.explain import Explanation, Term
from tests.cli.conftest import Runner, one_line_error


def _list(results: Path, user: str) -> list[tuple[int, str, float, str]]:
    """The user's (rank, item_id, score, source) rows of a CSV results folder."""
    sql = (
        "SELECT rank, item_id::VARCHAR, score, source FROM read_csv(?) "
        "WHERE user_id::VARCHAR = ? ORDER BY rank"
    )
    return duckdb.connect().execute(sql, [str(results / "recommendations.csv"), user]).fetchall()


def test_show_explain_prints_every_entry_with_its_terms(shopscale: Runner, small_log: Path) -> None:
    """Every entry of the user's list (a CSV run, decays on) is printed in rank order with its
    score, source, a reason, and terms whose shares name what voted."""
    shopscale("recommend", str(small_log), "--out", "recs", "--db", "none", "--format", "csv")
    shown = shopscale("show", "recs", "--user", "42", "--explain").stdout
    assert "why these items, for user 42" in shown
    rows = _list(small_log.parent / "recs", "42")
    lines = [line for line in shown.splitlines() if line.startswith("│")]
    assert len(lines) == len(rows) == 10
    for line, (rank, item, score, source) in zip(lines, rows, strict=True):
        cells = [c.strip() for c in line.strip("│").split("│")]
        assert cells[:4] == [str(rank), item, f"{score:,.3f}", source]
        assert cells[4] in ("own", "prior", "similar")
        assert "%" in cells[6]
    assert "own viewed" in shown or "own carted" in shown  # the user's own engagement


def test_show_explain_refuses_what_it_cannot_explain(
    shopscale: Runner, small_log: Path, tmp_path: Path
) -> None:
    """--explain on a results file, or on a folder whose list another run's model did not
    produce, is one line (exit 2), never a traceback."""
    shopscale("recommend", str(small_log), "--out", "recs", "--db", "none", "--format", "csv")
    file_only = shopscale(
        "show", "recs/recommendations.csv", "--user", "42", "--explain", check=False
    )
    assert "needs the results folder" in one_line_error(file_only)
    other = ("--self-weight", "3", "--format", "csv", "--db", "none")
    shopscale("recommend", str(small_log), "--out", "other", *other)
    listed = (tmp_path / "recs" / "recommendations.csv").resolve()
    shutil.copyfile(tmp_path / "other" / "recommendations.csv", listed)
    mixed = shopscale("show", "recs", "--user", "42", "--explain", check=False)
    assert "come from different runs" in one_line_error(mixed)


def test_terms_of_one_part_are_shown_summed() -> None:
    """With ``repeats``, an item viewed three times has two own-viewed terms (its first event,
    and twice more): the table shows one "own viewed" part with their shares summed, ranked
    among the other parts by that sum."""
    terms = (
        Term("own", "viewed", "i1", 10.0, 0.25),
        Term("similar", "carted", "i2", 14.0, 0.35),
        Term("own", "viewed", "i1", 16.0, 0.4),
    )
    e = Explanation("i1", 1, 40.0, "model", "own", 26e-6, terms)
    assert terms_text(e) == "own viewed 65.0%; carted 'i2' 35.0%"
