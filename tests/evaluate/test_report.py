"""The report's comparison of shopscale with the best baseline (paired, per test user)."""

from __future__ import annotations

from typing import Any

import pytest

from shopscale.evaluate.report import compare_with_best, verdict


def _entry(per_user: list[float]) -> dict[str, Any]:
    """A model's result entry with only what the comparison reads."""
    mean = sum(per_user) / len(per_user)
    return {"tasks": {"t": {"ndcg@10": mean}}, "per_user": {"t": {"ndcg@10": per_user}}}


def test_compares_with_the_best_baseline_and_ignores_prototypes() -> None:
    """The rival is the best model other than shopscale and its prototype; the difference is
    the mean per-user difference, inside its interval."""
    result = {
        "models": {
            "shopscale": _entry([1.0, 1.0, 0.0, 1.0]),
            "shopscale-blend": _entry([1.0, 1.0, 1.0, 1.0]),
            "als": _entry([1.0, 0.0, 0.0, 0.0]),
            "ease": _entry([1.0, 0.0, 1.0, 0.0]),
        }
    }
    cmp = compare_with_best(result, "t", "ndcg@10")
    assert cmp is not None
    assert cmp["baseline"] == "ease"
    assert cmp["difference"] == pytest.approx(0.25)
    assert cmp["low"] <= 0.25 <= cmp["high"]
    assert cmp["users"] == 4
    assert verdict(cmp) == "ahead, within noise"


def test_verdicts() -> None:
    """An interval above 0 is ahead, below 0 behind, otherwise within noise."""
    assert verdict({"difference": 0.1, "low": 0.01, "high": 0.2}) == "ahead"
    assert verdict({"difference": -0.1, "low": -0.2, "high": -0.01}) == "behind"
    assert verdict({"difference": -0.01, "low": -0.05, "high": 0.03}) == "not ahead, within noise"


def test_no_comparison_without_per_user_scores() -> None:
    """Results written before per-user scores existed give no comparison, not an error."""
    result = {"models": {"shopscale": {"tasks": {"t": {"ndcg@10": 0.5}}}, "als": _entry([0.0])}}
    assert compare_with_best(result, "t", "ndcg@10") is None


def test_signed_never_prints_a_bare_minus_zero() -> None:
    """An interval bound that rounds to zero keeps its sign readable (scientific notation);
    exact zeros and ordinary values print at the fixed decimals."""
    from shopscale.evaluate.report import signed

    assert signed(-0.00001) == "-1.0e-05" and signed(0.00002) == "+2.0e-05"
    assert signed(0.0) == signed(-0.0) == "+0.0000" and signed(-0.0123) == "-0.0123"
    assert signed(0.0004, 3) == "+4.0e-04" and signed(0.0123, 3) == "+0.012"


def test_search_lines_say_what_a_noise_aware_search_tested() -> None:
    """A model whose search keeps its best only beyond noise gets a line with the gain, its
    interval and what was tested; baselines (which keep their best always) get none."""
    from shopscale.evaluate.report import search_lines

    found = {"best": 0.31, "default": 0.3, "low": -0.002, "high": 0.02, "users": 74,
             "tried": 22, "adopt": "significant", "kept": "defaults",
             "verdict": "within noise of the defaults at 95 %: the defaults are kept"}  # fmt: skip
    result = {
        "models": {
            "itemknn-cosine": {"search": {**found, "adopt": "best", "kept": "best"}},
            "shopscale": {},
            "shopscale-tuned": {"search": found},
        }
    }
    (line,) = search_lines(result)
    assert line.startswith("shopscale-tuned: best of 22 on validation 0.3100 vs the defaults' ")
    assert "gain +0.0100 (95 % paired interval -0.0020 to +0.0200 over 74 users)" in line
    assert line.endswith("the defaults are kept; tested the defaults")
