"""VersionedFolder: whole versions published by one switch, a lock, sweeping, pruning, rollback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shopscale.errors import ShopscaleError
from shopscale.store.versions import VersionedFolder, check_writable, hold_lease
from tests.store.results import leftovers


def publish(folder: VersionedFolder, files: dict[str, str]) -> Path:
    """Publish one version holding ``files`` (name -> text); return its folder."""
    with folder.new_version() as staging:
        for name, text in files.items():
            (staging / name).write_text(text)
    current = folder.current()
    assert current is not None
    return current


def write_then_fail(folder: VersionedFolder) -> None:
    """Stage a file, then fail inside the version."""
    with folder.new_version() as staging:
        (staging / "a.txt").write_text("A2")
        raise RuntimeError("boom")


def test_published_files_are_read_through_stable_links(tmp_path: Path) -> None:
    """Every top-level entry of the version is at OUT/<name>, and current() is that version."""
    folder = VersionedFolder(tmp_path / "out")
    version = publish(folder, {"a.txt": "A1", "b.txt": "B1"})
    assert (tmp_path / "out" / "a.txt").read_text() == "A1"
    assert (version / "b.txt").read_text() == "B1"
    [info] = folder.versions()
    assert info.is_current and info.path.resolve() == version
    assert leftovers(tmp_path / "out") == []


def test_new_version_switches_every_name_and_drops_missing_ones(tmp_path: Path) -> None:
    """A second version replaces all files at once; names it lacks disappear, new ones appear."""
    out = tmp_path / "out"
    folder = VersionedFolder(out)
    publish(folder, {"a.txt": "A1", "old.txt": "O1"})
    publish(folder, {"a.txt": "A2", "new.txt": "N2"})
    assert (out / "a.txt").read_text() == "A2"
    assert (out / "new.txt").read_text() == "N2"
    assert not (out / "old.txt").exists() and not (out / "old.txt").is_symlink()


def test_failed_version_leaves_current_untouched(tmp_path: Path) -> None:
    """An exception inside new_version removes the staging folder and publishes nothing."""
    out = tmp_path / "out"
    folder = VersionedFolder(out)
    first = publish(folder, {"a.txt": "A1"})
    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail(folder)
    assert folder.current() == first and (out / "a.txt").read_text() == "A1"
    assert len(folder.versions()) == 1 and leftovers(out) == []


def test_second_writer_fails_fast_naming_the_first(tmp_path: Path) -> None:
    """While one writer holds the folder, another gets a ShopscaleError naming its pid."""
    out = tmp_path / "out"
    with (
        VersionedFolder(out).new_version(),
        pytest.raises(ShopscaleError, match=rf"another shopscale run \(pid {os.getpid()}\)"),
    ):
        publish(VersionedFolder(out), {"a.txt": "never"})


def test_old_versions_are_pruned_to_keep(tmp_path: Path) -> None:
    """After five runs with keep=2 only the two newest versions remain, the newest current."""
    folder = VersionedFolder(tmp_path / "out", keep=2)
    for k in range(5):
        publish(folder, {"a.txt": f"A{k}"})
    infos = folder.versions()
    assert [i.is_current for i in infos] == [False, True]
    assert [(i.path / "a.txt").read_text() for i in infos] == ["A3", "A4"]


def test_a_version_a_reader_maps_is_kept_until_its_lease_ends(tmp_path: Path) -> None:
    """A version under a held lease (a server mapping its files) outlives its turn to be
    pruned; once the lease is released, the next run prunes it."""
    folder = VersionedFolder(tmp_path / "out", keep=2)
    publish(folder, {"a.txt": "A0"})
    first = folder.versions()[0].path
    fd = hold_lease(first)
    for k in range(1, 4):
        publish(folder, {"a.txt": f"A{k}"})
    assert [(i.path / "a.txt").read_text() for i in folder.versions()] == ["A0", "A2", "A3"]
    os.close(fd)
    publish(folder, {"a.txt": "A4"})
    assert [(i.path / "a.txt").read_text() for i in folder.versions()] == ["A3", "A4"]
    assert not first.exists()


def test_rollback_to_previous_and_to_a_given_id(tmp_path: Path) -> None:
    """rollback() publishes the version before the current one; rollback(to=id) that one."""
    out = tmp_path / "out"
    folder = VersionedFolder(out)
    for k in range(3):
        publish(folder, {"a.txt": f"A{k}", f"only{k}.txt": "x"})
    folder.rollback()
    assert (out / "a.txt").read_text() == "A1" and (out / "only1.txt").exists()
    assert not (out / "only2.txt").exists()
    folder.rollback(to=folder.versions()[-1].id)
    assert (out / "a.txt").read_text() == "A2"
    with pytest.raises(ShopscaleError, match="no version 'nope'"):
        folder.rollback(to="nope")
    folder.rollback()
    folder.rollback()
    with pytest.raises(ShopscaleError, match="no earlier version"):
        folder.rollback()


def test_unversioned_results_folder_becomes_the_first_version(tmp_path: Path) -> None:
    """Real result files of an older shopscale are kept as version one, then replaced whole."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    (out / "recs.csv").write_text("old")
    folder = VersionedFolder(out)
    publish(folder, {"summary.json": '{"new": 1}', "recs.csv": "new"})
    assert (out / "recs.csv").read_text() == "new"
    assert [(i.path / "recs.csv").read_text() for i in folder.versions()] == ["old", "new"]
    assert all((out / name).is_symlink() for name in ("summary.json", "recs.csv"))


def test_leftovers_of_killed_runs_are_swept(tmp_path: Path) -> None:
    """Staging and trash folders and temp links of dead runs are gone after the next run."""
    out = tmp_path / "out"
    folder = VersionedFolder(out)
    publish(folder, {"a.txt": "A1"})
    (out / ".staging-000009-20260101T000000Z").mkdir()
    (out / ".versions" / ".trash-000000-20260101T000000Z").mkdir()
    os.symlink("current/x", out / ".link-1-x")
    (out / ".tmp-123-recommendations.parquet").write_text("half")
    (out / ".shopscale.sqlite.partial-123").write_text("half")
    assert len(leftovers(out)) == 5
    publish(folder, {"a.txt": "A2"})
    assert leftovers(out) == []


def test_a_real_file_in_the_way_is_an_error_before_the_switch(tmp_path: Path) -> None:
    """A user's own file at a result name stops the publication with one line; nothing moves."""
    out = tmp_path / "out"
    folder = VersionedFolder(out)
    first = publish(folder, {"a.txt": "A1"})
    (out / "b.txt").write_text("mine")
    with pytest.raises(ShopscaleError, match=r"b.txt: not a shopscale result link"):
        publish(folder, {"a.txt": "A2", "b.txt": "B2"})
    assert folder.current() == first and (out / "b.txt").read_text() == "mine"
    assert leftovers(out) == []


def test_check_writable_refuses_files_and_paths_under_files(tmp_path: Path) -> None:
    """An existing file, a path below one or a folder that cannot be written is refused up
    front; a new nested folder is fine (and not created by the check)."""
    (tmp_path / "f").write_text("x")
    with pytest.raises(ShopscaleError, match="exists and is not a folder"):
        check_writable(tmp_path / "f")
    with pytest.raises(ShopscaleError, match="is not a folder"):
        check_writable(tmp_path / "f" / "sub")
    with pytest.raises(ShopscaleError, match="cannot write there"):
        check_writable(Path("/proc/self"))  # a folder no one, root included, may write in
    check_writable(tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "f"]


def test_sub_folders_are_published_with_the_files(tmp_path: Path) -> None:
    """A version's sub-folder (the model state's ``model/``) switches with the files."""
    out = tmp_path / "out"
    folder = VersionedFolder(out)
    with folder.new_version() as staging:
        (staging / "model").mkdir()
        (staging / "model" / "state.bin").write_bytes(b"S1")
        (staging / "a.txt").write_text("A1")
    assert (out / "model" / "state.bin").read_bytes() == b"S1"
    publish(folder, {"a.txt": "A2"})
    assert not (out / "model").exists() and leftovers(out) == []
    folder.rollback()
    assert (out / "model" / "state.bin").read_bytes() == b"S1"
