"""Output locations are checked before any work: a bad one is an InputError naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopscale.errors import InputError
from shopscale.store.paths import (
    check_output_file,
    check_output_folder,
    output_folder,
    writing,
)


def test_a_file_in_missing_folders_is_fine_and_leaves_nothing(tmp_path: Path) -> None:
    """A file whose folders do not exist yet passes; the probe leaves no file or folder."""
    assert check_output_file(tmp_path / "a" / "b" / "out.parquet") == tmp_path / "a/b/out.parquet"
    assert check_output_folder(tmp_path / "report") == tmp_path / "report"
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_may_be_replaced(tmp_path: Path) -> None:
    """An existing output file passes (it is replaced atomically later) and is not touched."""
    (tmp_path / "out.toml").write_text("old\n")
    check_output_file(tmp_path / "out.toml")
    assert (tmp_path / "out.toml").read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.toml"]


@pytest.mark.parametrize(
    ("relative", "words"),
    [("blocker/out.csv", "blocker is a file"), ("blocker/a/b/out.csv", "blocker is a file")],
)
def test_a_file_under_a_regular_file_is_refused(tmp_path: Path, relative: str, words: str) -> None:
    """A parent that is a regular file fails (even as root) naming the output and the file."""
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(InputError) as err:
        check_output_file(tmp_path / relative)
    assert err.value.path == str(tmp_path / relative) and words in str(err.value)


def test_folder_and_file_mix_ups_are_refused(tmp_path: Path) -> None:
    """A folder where a file belongs, and a file where a folder belongs, are refused."""
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a folder"):
        check_output_file(tmp_path)
    with pytest.raises(InputError, match="is a file"):
        check_output_folder(tmp_path / "f")
    with pytest.raises(InputError, match="f is a file, not a folder"):
        check_output_folder(tmp_path / "f" / "report")


def test_writing_turns_os_errors_into_one_line(tmp_path: Path) -> None:
    """An OSError while writing becomes an InputError naming the path and the cause."""
    target = tmp_path / "x.csv"
    with pytest.raises(InputError, match=r"x\.csv: cannot write: .*"), writing(target):
        (tmp_path / "missing" / "x.csv").write_text("y")


def test_out_as_a_file_uri_is_its_local_folder(tmp_path: Path) -> None:
    """``--out file:///...`` is the folder it names (spaces and escapes decoded)."""
    assert output_folder(f"file://{tmp_path}/a%20b") == tmp_path / "a b"
    assert output_folder(str(tmp_path / "plain")) == tmp_path / "plain"


@pytest.mark.parametrize(
    "spec", ["hdfs:///shopscale/model/", "s3a://bucket/model", "file://host/x"]
)
def test_out_on_another_file_system_is_refused_in_one_line(spec: str) -> None:
    """An output URI that is not a local folder fails naming it, instead of ``Path`` folding
    ``hdfs:///m`` into a local folder ``hdfs:/m``."""
    with pytest.raises(InputError, match="not supported") as info:
        output_folder(spec)
    assert str(info.value).startswith(spec)
