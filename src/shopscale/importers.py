"""Adapters from public data sets to shopscale's event schema (``user_id, action, item_id[,
timestamp]``), so ``recommend`` and ``evaluate`` read them like any shop's log.

- ``retailrocket-caserec``: ``{view,add_to_cart,purchase}_ecommerce.dat`` -> viewed, carted,
  purchased
- ``taobao``: every ``UserBehavior*.csv`` in name order; pv, cart, fav, buy -> viewed, carted,
  favorited, purchased
- ``movielens-100k`` (``u.data``), ``movielens-latest-small`` (``ratings.csv``): rating >= 4 ->
  purchased (the primary action), lower -> rated

- ``bookcrossing-caserec``: ``book_history.dat`` (every book a user touched) and
  ``book_ratings.dat`` (the explicit subset) -> accessed (touched, never rated), rated
- ``lastfm-hetrec2011``: ``user_artists.dat`` -> listened (one event per user and artist; the
  listen count is dropped), ``user_taggedartists.dat`` -> tagged (one per tag assignment)
- ``diginetica``: ``train-purchases.csv`` -> purchased, ``[sample_]train-item-views.csv`` ->
  viewed; a session without a user is its own user (ids ``u<userId>``, ``s<sessionId>``)
- ``yoochoose``: ``*_train_full.txt`` and ``*_test.txt`` (session-rec's prepared clicks) ->
  clicked, and ``yoochoose-buys.dat`` (the original challenge file) -> bought when present;
  sessions are the users

RetailRocket, Book-Crossing and Last.fm have no (usable) timestamps: the output has **no
timestamp column**. shopscale then treats file order as time order, which here is *not* real
time: evaluate them with a per-user random holdout (``holdout:0.2``), not a time split, and do
not use time decay on them. docs/data.md says, per data set, which action is the primary one
and how real its times are.
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

DatasetName = Literal[
    "retailrocket-caserec",
    "taobao",
    "movielens-100k",
    "movielens-latest-small",
    "bookcrossing-caserec",
    "lastfm-hetrec2011",
    "diginetica",
    "yoochoose",
]
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
    rating = _as_float(path, table["r"], "rating", header=header)
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


def _row_order(table: pa.Table) -> pa.Table:
    """``table`` with its file position as column ``_row`` (joins do not keep order)."""
    return table.append_column("_row", pa.array(np.arange(table.num_rows, dtype=np.int64)))


def import_bookcrossing(src: Path) -> pa.Table:
    """``book_history.dat`` (user, item, accessed) and ``book_ratings.dat`` (user, item, rating).

    Every rated book is also in the history (the history is every interaction): a history row
    becomes ``rated`` when the book has a rating, else ``accessed`` (Book-Crossing's implicit
    "rating 0"), so each (user, book) is one event and neither action reveals the other. Ratings
    not in the history are kept as ``rated`` too. File order: history order.
    """
    hist_path, rate_path = _need(src / "book_history.dat"), _need(src / "book_ratings.dat")
    hist = _read(hist_path, ["u", "i", "x"], delimiter="\t", header=True)
    rates = _read(rate_path, ["u", "i", "r"], delimiter="\t", header=True)
    _as_float(rate_path, rates["r"], "rating", header=True)
    hist = _row_order(hist.select(["u", "i"]))
    rated = rates.select(["u", "i"]).append_column("rated", pa.repeat(True, rates.num_rows))
    joined = hist.join(rated, ["u", "i"], join_type="left outer").sort_by("_row")
    actions = pc.if_else(pc.is_null(joined["rated"]), "accessed", RATED)
    extra = rates.select(["u", "i"]).join(hist, ["u", "i"], join_type="left anti")
    return pa.concat_tables(
        [
            _events(joined["u"], actions, joined["i"]),
            _events(extra["u"], pa.repeat(pa.scalar(RATED), extra.num_rows), extra["i"]),
        ]
    )


def import_lastfm(src: Path) -> pa.Table:
    """``user_artists.dat`` -> ``listened`` (file order), then ``user_taggedartists.dat`` ->
    ``tagged`` in date order (day, month, year: month resolution; listens have no date)."""
    listen_path = _need(src / "user_artists.dat")
    tag_path = _need(src / "user_taggedartists.dat")
    listens = _read(listen_path, ["u", "i", "w"], delimiter="\t", header=True)
    _as_int(listen_path, listens["w"], "listen count", header=True)
    tags = _read(tag_path, ["u", "i", "g", "d", "m", "y"], delimiter="\t", header=True)
    date = [_as_int(tag_path, tags[c], what, header=True) for c, what in _DATE_PARTS]
    order = pc.sort_indices(
        pa.table({"y": date[2], "m": date[1], "d": date[0]}),
        sort_keys=[("y", "ascending"), ("m", "ascending"), ("d", "ascending")],
    )
    tags = tags.take(order)
    return pa.concat_tables(
        [
            _events(listens["u"], pa.repeat(pa.scalar("listened"), listens.num_rows), listens["i"]),
            _events(tags["u"], pa.repeat(pa.scalar("tagged"), tags.num_rows), tags["i"]),
        ]
    )


_DATE_PARTS = (("d", "day"), ("m", "month"), ("y", "year"))


def _as_float(path: Path, column: pa.ChunkedArray, what: str, *, header: bool) -> pa.ChunkedArray:
    """Parse a text column as float64, or fail naming the first bad row's line."""
    try:
        return pc.cast(column, pa.float64())
    except pa.ArrowInvalid:
        bad = [n for n, v in enumerate(column.to_pylist()) if not _is_number(v)]
        line = bad[0] + 1 + header if bad else None
        raise InputError(path, f"{what} is not a number", line=line) from None


def _as_day(path: Path, column: pa.ChunkedArray, *, header: bool) -> pa.ChunkedArray:
    """``YYYY-MM-DD`` text -> epoch seconds of that day's 00:00 UTC, or a named bad line."""
    try:
        return pc.cast(pc.strptime(column, format="%Y-%m-%d", unit="s"), pa.int64())
    except pa.ArrowInvalid:
        values = column.to_pylist()
        good = pc.is_valid(pc.strptime(column, format="%Y-%m-%d", unit="s", error_is_null=True))
        bad = [n for n, ok in enumerate(good.to_pylist()) if not ok or values[n] is None]
        line = bad[0] + 1 + header if bad else None
        raise InputError(path, "date is not YYYY-MM-DD", line=line) from None


def _diginetica_part(path: Path, cols: list[str], action: str) -> pa.Table:
    """One DIGINETICA file as (user, action, item, day, session, timeframe) columns."""
    t = _read(path, cols, delimiter=";", header=True)
    session = _as_int(path, t["s"], "session id", header=True)
    user = pc.if_else(
        pc.equal(t["u"], "NA"),
        pc.binary_join_element_wise("s", t["s"], ""),
        pc.binary_join_element_wise("u", t["u"], ""),
    )
    return pa.table(
        {
            "user_id": user,
            "action": pa.repeat(pa.scalar(action), t.num_rows),
            "item_id": t["i"],
            "timestamp": _as_day(path, t["d"], header=True),
            "_session": session,
            "_frame": _as_int(path, t["f"], "timeframe", header=True),
        }
    )


def import_diginetica(src: Path) -> pa.Table:
    """``train-purchases.csv`` -> purchased, the item views (``train-item-views.csv``, else the
    ``sample_`` one, if either is there) -> viewed; events in (day, session, timeframe) order.

    Timestamps are the event's day (00:00 UTC): the day is real, the time of day is not in the
    data (``timeframe`` counts from the session's start), so it orders events within a day.
    """
    parts = []
    for name in ("train-item-views.csv", "sample_train-item-views.csv"):
        if (src / name).is_file():
            parts.append(_diginetica_part(src / name, ["s", "u", "i", "f", "d"], "viewed"))
            break
    purchases = _need(src / "train-purchases.csv")
    parts.append(_diginetica_part(purchases, ["s", "u", "f", "d", "o", "i"], PRIMARY))
    table = pa.concat_tables(parts)
    keys = [("timestamp", "ascending"), ("_session", "ascending"), ("_frame", "ascending")]
    return table.take(pc.sort_indices(table, sort_keys=keys)).drop_columns(["_session", "_frame"])


def _yoochoose_buys(path: Path) -> pa.Table:
    """The challenge's ``yoochoose-buys.dat``: session, ISO time, item, price, quantity."""
    t = _read(path, ["s", "ts", "i", "p", "q"], delimiter=",", header=False)
    try:
        ts = pc.strptime(pc.utf8_slice_codeunits(t["ts"], 0, 19), "%Y-%m-%dT%H:%M:%S", "s")
    except pa.ArrowInvalid:
        raise InputError(path, "timestamp is not YYYY-MM-DDTHH:MM:SS…") from None
    return _events(
        t["s"], pa.repeat(pa.scalar("bought"), t.num_rows), t["i"], pc.cast(ts, pa.int64())
    )


def import_yoochoose(src: Path) -> pa.Table:
    """session-rec's prepared clicks (``*_train_full.txt``, ``*_test.txt``: SessionId, ItemId,
    Time in seconds with a fraction) -> clicked, whole seconds; ``yoochoose-buys.dat`` -> bought."""
    files = sorted([*src.glob("*_train_full.txt"), *src.glob("*_test.txt")])
    if not files:
        raise InputError(src, "no *_train_full.txt or *_test.txt click file in this folder")
    parts = []
    for path in files:
        t = _read(path, ["s", "i", "ts"], delimiter="\t", header=True)
        seconds = pc.cast(pc.floor(_as_float(path, t["ts"], "time", header=True)), pa.int64())
        parts.append(_events(t["s"], pa.repeat(pa.scalar("clicked"), t.num_rows), t["i"], seconds))
    if (src / "yoochoose-buys.dat").is_file():
        parts.append(_yoochoose_buys(src / "yoochoose-buys.dat"))
    return pa.concat_tables(parts)


IMPORTERS: dict[str, Callable[[Path], pa.Table]] = {
    "retailrocket-caserec": import_retailrocket,
    "taobao": import_taobao,
    "movielens-100k": import_movielens_100k,
    "movielens-latest-small": import_movielens_latest_small,
    "bookcrossing-caserec": import_bookcrossing,
    "lastfm-hetrec2011": import_lastfm,
    "diginetica": import_diginetica,
    "yoochoose": import_yoochoose,
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
