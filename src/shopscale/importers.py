"""Adapters from public data sets to shopscale's event schema (``user_id, action, item_id[,
timestamp]``), so ``recommend`` and ``evaluate`` read them like any shop's log.

- ``retailrocket-caserec``: ``{view,add_to_cart,purchase}_ecommerce.dat`` -> viewed, carted,
  purchased
- ``taobao``: every ``UserBehavior*.csv`` in name order; pv, cart, fav, buy -> viewed, carted,
  favorited, purchased
- ``movielens-100k`` (``u.data``), ``movielens-latest-small`` (``ratings.csv``): rating >= 4 ->
  purchased (the primary action), lower -> rated

RetailRocket (CaseRecommender subset) has no timestamps: the output has **no timestamp column**
and lists views, then carts, then purchases, each file in its own order.
shopscale then treats file order as time order, which here is *not* real time: evaluate it with
a per-user random holdout (``holdout:0.2``), not a time split, and do not use time decay on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from shopscale.errors import InputError
from shopscale.store.files import FileFormat, write_table

DatasetName = Literal["retailrocket-caserec", "taobao", "movielens-100k", "movielens-latest-small"]
PRIMARY = "purchased"
RATED = "rated"
LIKED_RATING = 4.0
RETAILROCKET_FILES = (
    ("view_ecommerce.dat", "viewed"),
    ("add_to_cart_ecommerce.dat", "carted"),
    ("purchase_ecommerce.dat", "purchased"),
)
TAOBAO_ACTIONS = {"pv": "viewed", "cart": "carted", "fav": "favorited", "buy": "purchased"}


def _need(path: Path) -> Path:
    """``path`` itself, or an InputError saying which file of the data set is missing."""
    if path.is_dir():
        raise InputError(path, "is a folder; this data set needs a file of that name here")
    if not path.is_file():
        raise InputError(path, "missing file of this data set (is SRC_DIR the right folder?)")
    return path


def _first_bad_line(path: Path, width: int, delimiter: str, header: bool) -> tuple[int, str]:
    """The first line that is not UTF-8 or has not ``width`` fields, and why (line 0: none)."""
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if header and n == 1:
                continue
            try:
                fields = raw.decode("utf-8").rstrip("\r\n").split(delimiter)
            except UnicodeDecodeError:
                return n, "not UTF-8 text"
            if len(fields) != width:
                return n, f"expected {width} fields, got {len(fields)}"
    return 0, ""


def _read(path: Path, names: list[str], *, delimiter: str, header: bool) -> pa.Table:
    """Read a delimited file with every column as text."""
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1 if header else 0, use_threads=True
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        line, why = _first_bad_line(path, len(names), delimiter, header)
        if line:
            raise InputError(path, f"cannot parse: {why}", line) from None
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        text = "".join(c if c.isprintable() else " " for c in first)[:160]
        raise InputError(path, f"cannot parse: {text}") from None


def _events(
    users: pa.Array, actions: pa.Array, items: pa.Array, ts: pa.Array | None = None
) -> pa.Table:
    """An event table in our column order (timestamp as int64 epoch seconds when given)."""
    cols = {"user_id": users, "action": actions, "item_id": items}
    if ts is not None:
        cols["timestamp"] = ts
    return pa.table(cols)


def _as_int(
    path: Path, column: pa.ChunkedArray, what: str, *, header: bool = False
) -> pa.ChunkedArray:
    """Parse a text column as int64, or fail naming the first bad row's line."""
    try:
        return pc.cast(column, pa.int64())
    except pa.ArrowInvalid:
        bad = [n for n, v in enumerate(column.to_pylist()) if not (v or "").strip().isdigit()]
        line = bad[0] + 1 + header if bad else None
        raise InputError(path, f"{what} is not an integer", line=line) from None


def import_retailrocket(src: Path) -> pa.Table:
    """The three CaseRecommender .dat files (views, carts, purchases), no timestamps."""
    parts = []
    for name, action in RETAILROCKET_FILES:
        t = _read(_need(src / name), ["u", "i", "e"], delimiter="\t", header=True)
        parts.append(_events(t["u"], pa.array(np.full(t.num_rows, action, dtype=object)), t["i"]))
    return pa.concat_tables(parts)


def import_taobao(src: Path) -> pa.Table:
    """Every ``UserBehavior*.csv`` (user, item, category, behaviour, seconds), name order."""
    files = sorted(src.glob("UserBehavior*.csv"))
    if not files:
        raise InputError(src, "no UserBehavior*.csv file in this folder")
    parts = []
    for path in files:
        t = _read(path, ["u", "i", "c", "b", "ts"], delimiter=",", header=False)
        known = pc.is_in(t["b"], pa.array(list(TAOBAO_ACTIONS)))
        if not pc.all(known).as_py():
            line = int(np.flatnonzero(~known.to_numpy(zero_copy_only=False))[0]) + 1
            raise InputError(
                path, f"unknown behaviour (expected {', '.join(TAOBAO_ACTIONS)})", line
            )
        mapping = np.array(list(TAOBAO_ACTIONS.values()), dtype=object)
        index = pc.index_in(t["b"], pa.array(list(TAOBAO_ACTIONS))).to_numpy(zero_copy_only=False)
        actions = pa.array(mapping[index], pa.string())
        parts.append(_events(t["u"], actions, t["i"], _as_int(path, t["ts"], "timestamp")))
    return pa.concat_tables(parts)


def _ratings(path: Path, table: pa.Table, *, header: bool) -> pa.Table:
    """Ratings >= 4 become ``purchased`` (the primary action), lower ones ``rated``."""
    try:
        rating = pc.cast(table["r"], pa.float64())
    except pa.ArrowInvalid:
        bad = [n for n, v in enumerate(table["r"].to_pylist()) if not _is_number(v)]
        line = bad[0] + 1 + header if bad else None
        raise InputError(path, "rating is not a number", line=line) from None
    actions = pc.if_else(pc.greater_equal(rating, LIKED_RATING), PRIMARY, RATED)
    ts = _as_int(path, table["ts"], "timestamp", header=header)
    return _events(table["u"], actions, table["i"], ts)


def _is_number(text: str | None) -> bool:
    """Whether ``text`` reads as a finite number."""
    try:
        return math.isfinite(float(text or ""))
    except ValueError:
        return False


def import_movielens_100k(src: Path) -> pa.Table:
    """``u.data``: user, item, rating, seconds; tab-separated, no header."""
    path = _need(src / "u.data")
    table = _read(path, ["u", "i", "r", "ts"], delimiter="\t", header=False)
    return _ratings(path, table, header=False)


def import_movielens_latest_small(src: Path) -> pa.Table:
    """``ratings.csv``: userId, movieId, rating, timestamp; with a header."""
    path = _need(src / "ratings.csv")
    table = _read(path, ["u", "i", "r", "ts"], delimiter=",", header=True)
    return _ratings(path, table, header=True)


IMPORTERS: dict[str, Callable[[Path], pa.Table]] = {
    "retailrocket-caserec": import_retailrocket,
    "taobao": import_taobao,
    "movielens-100k": import_movielens_100k,
    "movielens-latest-small": import_movielens_latest_small,
}


def import_dataset(name: str, src: str | Path) -> pa.Table:
    """The events of data set ``name`` read from its folder ``src``."""
    if name not in IMPORTERS:
        raise InputError(None, f"unknown data set {name!r} (choose: {', '.join(IMPORTERS)})")
    folder = Path(src)
    if folder.is_file():
        raise InputError(folder, "is a file; give the data set's folder")
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    table = IMPORTERS[name](folder)
    if table.num_rows == 0:
        raise InputError(folder, f"no events in this {name} data set's files")
    return table


def output_format(out: Path) -> FileFormat:
    """parquet, csv or jsonl from the output file's name."""
    suffix = out.suffix.lower().lstrip(".")
    if suffix not in ("parquet", "csv", "jsonl"):
        raise InputError(out, "output must end in .parquet, .csv or .jsonl")
    return suffix  # type: ignore[return-value]


def write_events(table: pa.Table, out: str | Path) -> int:
    """Write the events atomically in the format the file name asks for; return rows.

    Rows keep their order, so events without timestamps are read back in file order, the
    order shopscale then takes as time order (from CSV, Parquet and JSON Lines alike).
    """
    path = Path(out)
    return write_table(path, table, output_format(path))
