"""Settings from TOML and flags: a bad value is named by where it came from, in words."""

from __future__ import annotations

import pytest

from shopscale.config import load_params
from shopscale.errors import ConfigError
from shopscale.recommend.params import RecommendParams


def test_bad_flag_is_named_by_its_flag_with_the_choices() -> None:
    """--vote bogus: the message names the flag and lists the allowed values."""
    with pytest.raises(ConfigError) as err:
        load_params(
            RecommendParams, {}, "recommend", source="shop.toml", overrides={"vote": "bogus"}
        )
    assert str(err.value) == (
        "command line: [--vote] expected one of 'llr', 'geometric', 'conditional', got 'bogus'"
    )


def test_bad_file_value_is_named_by_file_and_key() -> None:
    """A string where a number belongs, in the file: file, section.key and 'a number'."""
    config = {"recommend": {"half_life_days": "x"}}
    with pytest.raises(ConfigError) as err:
        load_params(RecommendParams, config, "recommend", source="shop.toml")
    assert str(err.value) == "shop.toml: [recommend.half_life_days] expected a number, got 'x'"


def test_flag_overrides_file_and_none_flags_do_not() -> None:
    """A set flag wins over the file; a flag left unset (None) keeps the file's value."""
    config = {"recommend": {"vote": "conditional", "n": 7}}
    params = load_params(
        RecommendParams,
        config,
        "recommend",
        source="shop.toml",
        overrides={"vote": "geometric", "n": None},
    )
    assert (params.vote, params.n) == ("geometric", 7)


def test_out_of_range_flag_is_named_by_its_flag() -> None:
    """A value of the right type but out of range, from a flag, names the flag too."""
    with pytest.raises(ConfigError) as err:
        load_params(
            RecommendParams,
            {"recommend": {"n": 5}},
            "recommend",
            source="shop.toml",
            overrides={"max_similar_per_item": 0, "n": 3},
        )
    assert str(err.value) == (
        "command line: [--max-similar-per-item] max_similar_per_item must be at least 1, got 0"
    )
    with pytest.raises(ConfigError, match=r"^shop.toml: \[recommend\] n must be at least 1"):
        load_params(RecommendParams, {"recommend": {"n": 0}}, "recommend", source="shop.toml")


def test_a_flag_named_unlike_its_key_is_named_as_typed() -> None:
    """``--top 0`` sets ``n``: the message names ``--top``, the flag the user typed."""
    with pytest.raises(ConfigError) as err:
        load_params(
            RecommendParams,
            {},
            "recommend",
            source="<defaults>",
            overrides={"n": 0},
            flag_names={"n": "--top"},
        )
    assert str(err.value) == "command line: [--top] n must be at least 1, got 0"
