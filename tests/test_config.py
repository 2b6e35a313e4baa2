"""Settings from TOML and flags: a bad value is named by where it came from, in words."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopscale.config import field_hints, load_params, make_params, read_toml
from shopscale.errors import ConfigError
from shopscale.evaluate.blend import BlendParams
from shopscale.evaluate.run import EvaluateParams
from shopscale.evaluate.split import SplitParams
from shopscale.events import EventsParams
from shopscale.generate import GenerateParams
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams
from shopscale.routing.params import RoutingParams
from tests.cli.conftest import Runner, shopscale  # noqa: F401  (fixture)


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
    assert str(err.value) == (
        "shop.toml: [recommend.half_life_days] expected a finite number, got 'x'"
    )


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
    with pytest.raises(ConfigError, match=r"^shop.toml: \[recommend.n\] n must be at least 1"):
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


# Every Params class validated by ``check_fields`` (EventsParams and OutputParams join once
# their modules call it in ``__post_init__``).
PARAMS: tuple[type, ...] = (
    RecommendParams,
    RoutingParams,
    EvaluateParams,
    SplitParams,
    BlendParams,
    GenerateParams,
    OutputParams,
    EventsParams,
)
FIELDS = [(cls, name, hint) for cls in PARAMS for name, hint in field_hints(cls).items()]


def _bad(hint: Any) -> st.SearchStrategy[Any] | None:
    """Values that must never fit ``hint``: non-finite floats, huge ints, unknown choices."""
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not Ellipsis]
    if origin is typing.Literal:
        return st.text(max_size=8).filter(lambda s: s not in args)
    if origin in (typing.Union, types.UnionType):
        inner = [_bad(a) for a in args if a is not type(None)]
        return inner[0] if len(inner) == 1 else None
    if origin is tuple:
        return None if (bad := _bad(args[0])) is None else bad.map(lambda v: (v,))
    if origin is dict:
        return None if (bad := _bad(args[1])) is None else bad.map(lambda v: {"viewed": v})
    if hint is float:
        return st.sampled_from([math.nan, math.inf, -math.inf])
    if hint is int:
        return st.sampled_from([2**63, -(2**63), 10**30, True])
    if hint is str:
        return st.integers()
    return None


BAD = [(cls, name, bad) for cls, name, hint in FIELDS if (bad := _bad(hint)) is not None]


def _good(cls: type, name: str, hint: Any) -> st.SearchStrategy[Any]:
    """Values that must fit: every Literal choice, finite floats near the default, the default."""
    default = next(f for f in dataclasses.fields(cls) if f.name == name)
    value = default.default if default.default is not dataclasses.MISSING else None
    if typing.get_origin(hint) is typing.Literal:
        return st.sampled_from(typing.get_args(hint))
    if hint is float or (isinstance(value, float) and value > 0):
        high = value if isinstance(value, float) and value > 0 else 1.0
        return st.floats(min_value=high / 2 if value else 0.0, max_value=high)
    return st.just(value) if value is not None else st.nothing()


GOOD = [
    (cls, name, _good(cls, name, hint))
    for cls, name, hint in FIELDS
    if typing.get_origin(hint) is typing.Literal or isinstance(getattr(cls(), name), float)
]


def _ids(case: tuple[type, str, Any]) -> str:
    return f"{case[0].__name__}.{case[1]}"


@pytest.mark.parametrize("case", BAD, ids=_ids)
@settings(max_examples=15)
@given(data=st.data())
def test_every_field_rejects_non_finite_and_unknown_values(
    case: tuple[type, str, st.SearchStrategy[Any]], data: st.DataObject
) -> None:
    """Any Params field given nan/inf, a non-64-bit int or a value outside its Literal raises
    a ValueError naming that field, and from TOML a ConfigError naming file and key."""
    cls, name, values = case
    value = data.draw(values)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        cls(**{name: value})
    with pytest.raises(ConfigError, match=rf"^shop.toml: \[sect\.{name}\b"):
        make_params(cls, {name: value}, source="shop.toml", section="sect")


@pytest.mark.parametrize("case", GOOD, ids=_ids)
@settings(max_examples=15)
@given(data=st.data())
def test_every_field_accepts_its_choices_and_finite_values(
    case: tuple[type, str, st.SearchStrategy[Any]], data: st.DataObject
) -> None:
    """Every Literal choice and finite floats near the default build the Params unchanged."""
    cls, name, values = case
    value = data.draw(values)
    assert getattr(cls(**{name: value}), name) == value
    assert getattr(make_params(cls, {name: value}, source="s", section="x"), name) == value


def test_every_params_field_is_covered() -> None:
    """The properties above reach every Literal, float and int field of every Params class."""
    bad = {(cls, name) for cls, name, _ in BAD}
    for cls, name, hint in FIELDS:
        text = str(hint)
        if any(word in text for word in ("Literal", "float", "int")):
            assert (cls, name) in bad, f"{cls.__name__}.{name} ({hint}) has no bad value"


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


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--half-life-events", "nan"),
        ("--self-weight", "inf"),
        ("--half-life-days", "-inf"),
        ("--unprompted-weight", "nan"),
    ],
)
def test_non_finite_flag_is_one_line_naming_the_flag(
    cli: Runner,
    data_dir: Path,
    flag: str,
    value: str,
) -> None:
    """``recommend`` with nan or inf for a number exits 2 in one line naming the flag."""
    proc = cli("recommend", str(data_dir / "plain.csv"), flag, value, check=False)
    line = _one_line_error(proc)
    assert f"[{flag}]" in line and "finite" in line


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[recommend]\nexclude = "anyy"\n', "recommend.exclude"),
        ('[recommend]\nsimilarity = "cosin"\n', "recommend.similarity"),
        ("[recommend]\nweights = { viewed = nan }\n", "recommend.weights.viewed"),
        (
            "[recommend]\nusers_per_shard = 1_000_000_000_000_000_000_000\n",
            "recommend.users_per_shard",
        ),
        ("[routes]\ntime_limit_s = inf\n", "routes.time_limit_s"),
    ],
)
def test_bad_value_in_toml_is_one_line_naming_file_and_key(
    cli: Runner,
    data_dir: Path,
    tmp_path: Path,
    toml: str,
    key: str,
) -> None:
    """A bad literal, nan or a huge int in the config file exits 2 naming the file and key."""
    (tmp_path / "shop.toml").write_text(toml)
    data = str(data_dir / "plain.csv")
    routes = ("routes", "plan", "x.vrp", "--out", "plan")
    command = routes if key.startswith("routes") else ("recommend", data)
    proc = cli(*command, "-c", "shop.toml", check=False)
    assert f"shop.toml: [{key}]" in _one_line_error(proc)


def test_time_limit_flag_must_be_finite(cli: Runner) -> None:
    """``routes plan --time-limit nan`` is refused in one line naming the flag."""
    proc = cli("routes", "plan", "x.vrp", "--out", "p", "--time-limit", "nan", check=False)
    assert "--time-limit" in _one_line_error(proc)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"\xff\xfe[\x00r\x00e\x00", "not UTF-8"),
        (b'[recommend]\nprimary = "caf\xe9"\n', "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
        (b"\x00\x00\x00", "not valid TOML"),
    ],
)
def test_unreadable_toml_is_one_line_naming_the_path(
    cli: Runner,
    data_dir: Path,
    tmp_path: Path,
    content: bytes,
    words: str,
) -> None:
    """A config file that is not UTF-8 text (Latin-1, UTF-16, binary) or not TOML exits 2 in
    one line naming the path and the cause."""
    (tmp_path / "shop.toml").write_bytes(content)
    proc = cli("recommend", str(data_dir / "plain.csv"), "-c", "shop.toml", check=False)
    line = _one_line_error(proc)
    assert "shop.toml" in line and words in line


def test_config_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    """``--config`` naming a folder is a ConfigError saying so, not 'not found'."""
    with pytest.raises(ConfigError, match="is a folder"):
        read_toml(tmp_path)


def test_config_that_is_not_a_regular_file_is_refused() -> None:
    """A device such as /dev/zero is refused at once (reading it would never end)."""
    with pytest.raises(ConfigError, match="not a regular file"):
        read_toml("/dev/zero")


def test_huge_config_is_refused(tmp_path: Path) -> None:
    """A config file over 1 MB is refused naming the path, without parsing it."""
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * 1_000_001)
    with pytest.raises(ConfigError, match=r"big\.toml: \[-\] larger than"):
        read_toml(big)
