"""Large files are written and removed in paced steps, with the same result as a plain
write and ``shutil.rmtree``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shopscale.store.files import PACE_BYTES, PacedFile, remove_paced, write_batches, write_behind


def test_a_paced_file_holds_every_byte_written(tmp_path: Path) -> None:
    """Writes larger than a pace, smaller ones and a NumPy array come back byte for byte."""
    rng = np.random.default_rng(7)
    big = rng.integers(0, 256, 3 * PACE_BYTES + 5, dtype=np.uint8).tobytes()
    arr = rng.random(300_000)
    with PacedFile(tmp_path / "f.bin") as fh:
        fh.write(big)
        fh.write(b"tail")
    assert (tmp_path / "f.bin").read_bytes() == big + b"tail"
    with PacedFile(tmp_path / "a.npy") as fh:
        np.save(fh, arr, allow_pickle=False)
    assert np.array_equal(np.load(tmp_path / "a.npy"), arr)


def test_remove_paced_removes_a_tree_and_not_what_links_point_to(tmp_path: Path) -> None:
    """A folder with a file larger than a removal step, small files, a subfolder and a
    link to a file outside: the folder is gone, the outside file stays."""
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    with open(tree / "big.bin", "wb") as fh:
        fh.truncate(4 * PACE_BYTES * 2 + 123)
    (tree / "sub" / "small.txt").write_text("x")
    outside = tmp_path / "keep.txt"
    outside.write_text("kept")
    os.symlink(outside, tree / "link")
    remove_paced(tree)
    assert not tree.exists() and outside.read_text() == "kept"
    remove_paced(tmp_path / "missing", ignore_errors=True)  # nothing there: nothing to do
    single = tmp_path / "one.bin"
    single.write_bytes(b"1" * 10)
    remove_paced(single)
    assert not single.exists()


def test_write_behind_writes_every_batch_in_order_and_reraises_either_side() -> None:
    """The writer thread gets every batch in order; a writer error and a producer error both
    surface on the calling thread, and the writer has stopped by then."""
    batches = [pa.record_batch({"x": list(range(k, k + 3))}) for k in range(0, 30, 3)]
    got: list[pa.RecordBatch] = []
    assert write_behind(got.append, iter(batches)) == 30
    assert got == batches

    def broken_writer(batch: pa.RecordBatch) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_behind(broken_writer, iter(batches))

    def broken_producer() -> Iterator[pa.RecordBatch]:
        yield batches[0]
        raise ValueError("bad row")

    seen: list[pa.RecordBatch] = []
    with pytest.raises(ValueError, match="bad row"):
        write_behind(seen.append, broken_producer())
    assert seen == batches[:1]


def test_dictionary_encoded_ids_read_back_as_the_plain_strings(tmp_path: Path) -> None:
    """Batches holding a string column as dictionary arrays (each with its own dictionary)
    write a Parquet file that reads back in the plain schema with the decoded values; CSV
    gets them decoded."""
    schema = pa.schema([("item_id", pa.string()), ("score", pa.float64())])
    ids = pa.array(["a", "bb", "c"])
    batches = [
        pa.RecordBatch.from_arrays(
            [pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), ids), pa.array(scores)],
            names=["item_id", "score"],
        )
        for codes, scores in (([2, 0, 2], [1.0, 2.0, 3.0]), ([1], [4.0]))
    ]
    assert write_batches(tmp_path / "x.parquet", batches, schema) == 4
    back = pq.read_table(tmp_path / "x.parquet")
    assert back.schema == schema
    assert back.to_pylist() == [
        {"item_id": i, "score": s}
        for i, s in zip(["c", "a", "c", "bb"], [1.0, 2.0, 3.0, 4.0], strict=True)
    ]
    write_batches(tmp_path / "x.csv", batches, schema, "csv")
    assert (tmp_path / "x.csv").read_text().split() == [
        '"item_id","score"',
        '"c",1',
        '"a",2',
        '"c",3',
        '"bb",4',
    ]


def test_plain_columns_are_written_without_a_dictionary_and_the_rest_with_one(
    tmp_path: Path,
) -> None:
    """Columns named ``plain`` get plain pages (a dictionary of near-unique values is built
    and dropped page after page), the others a dictionary; statistics only where asked; every
    value reads back as written."""
    schema = pa.schema([("user_id", pa.string()), ("rank", pa.int32()), ("score", pa.float64())])
    rows = {
        "user_id": ["u1", "u1", "u2"] * 100,
        "rank": [1, 2, 1] * 100,
        "score": [0.1 * k + 1e-9 * k * k for k in range(300)],
    }
    batch = pa.RecordBatch.from_pydict(rows, schema=schema)
    dictionary = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
    for plain in [("score",), ()]:
        path = tmp_path / f"x{len(plain)}.parquet"
        write_batches(path, [batch], schema, statistics=["user_id"], plain=plain)
        meta = pq.ParquetFile(path).metadata.row_group(0)
        columns = {meta.column(c).path_in_schema: meta.column(c) for c in range(meta.num_columns)}
        assert bool(dictionary & set(columns["score"].encodings)) == (not plain)
        assert dictionary & set(columns["user_id"].encodings)
        assert dictionary & set(columns["rank"].encodings)
        assert columns["user_id"].is_stats_set and not columns["score"].is_stats_set
        assert pq.read_table(path).to_pydict() == rows
