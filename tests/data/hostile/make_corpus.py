"""Write the hostile-input corpus next to this script (the files are committed; rerun to rebuild).

Each file is one class of bad input: quoting, encodings, separators, line endings, blank lines,
columns, odd ids, implausible timestamps, for CSV, JSON Lines and Parquet, plus files whose name
lies about their content. tests/engine/local/test_reader_hostile.py holds what each must give.

    python tests/data/hostile/make_corpus.py
"""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
HEADER = "user_id,action,item_id,timestamp\n"
T = 1_704_067_200  # 2024-01-01T00:00:00Z
GOOD = f"u1,viewed,i1,{T}\nu2,purchased,i1,{T + 60}\n"


def text(name: str, content: str, encoding: str = "utf-8") -> None:
    """Write a text file exactly (no newline translation)."""
    (HERE / name).write_bytes(content.encode(encoding))


def raw(name: str, content: bytes) -> None:
    """Write bytes."""
    (HERE / name).write_bytes(content)


def parquet(name: str, columns: dict[str, pa.Array | list[object]]) -> None:
    """Write a small Parquet file (no compression: the bytes stay the same across versions)."""
    pq.write_table(pa.table(columns), HERE / name, compression="none")


def quoting() -> None:
    """A quote that never closes, one that closes lines later, bad quoting, good quoting."""
    rows = [f"u{k},viewed,i{k},{T + k}" for k in range(1, 9)]
    text(
        "quote_unterminated.csv",
        HEADER + "\n".join([*rows[:3], '"u9,viewed,i9,1704067300', *rows[3:]]) + "\n",
    )
    text(
        "quote_closes_later.csv",
        HEADER + f'u1,purchased,i1,{T}\n"u2,viewed,i2,{T}\nu3,viewed,i3,{T}\nu4",viewed,i4,{T}\n'
        f"u5,purchased,i5,{T}\n",
    )
    text("quote_bad.csv", HEADER + f'u1,viewed,i1,{T}\n"u2"x,viewed,i2,{T}\nu3,viewed,i3,{T}\n')
    text(
        "quote_good.csv",
        HEADER + f'"u,1",viewed,"i ""one""",{T}\nu2,vi"ewed,i2,{T}\n"u3","viewed","i3","{T}"\n',
    )
    text(
        "multiline_note.csv",
        "user_id,action,item_id,timestamp,note\n"
        f'u1,viewed,i1,{T},"a note\nover two lines"\nu2,viewed,i2,{T},plain\n',
    )


def encodings() -> None:
    """BOMs, UTF-16 with and without BOM, Latin-1 bytes, NUL bytes."""
    raw("bom.csv", b"\xef\xbb\xbf" + (HEADER + GOOD).encode())
    raw("bom_headerless.csv", b"\xef\xbb\xbf" + GOOD.encode())
    raw(
        "bom.jsonl",
        b"\xef\xbb\xbf"
        + b'{"user_id": "u1", "action": "viewed", "item_id": "i1", "timestamp": 1704067200}\n',
    )
    raw("utf16.csv", (HEADER + GOOD).encode("utf-16"))
    raw("utf16_nobom.csv", (HEADER + GOOD).encode("utf-16-le"))
    raw(
        "latin1.csv",
        (HEADER + f"u1,purchased,caf\xe9,{T}\nu2,purchased,i2,{T}\n").encode("latin-1"),
    )
    raw("nul.csv", (HEADER + f"u\x001,viewed,i1,{T}\nu2,purchased,i2,{T}\n").encode())
    good = '{"user_id": "u1", "action": "purchased", "item_id": "i1", "timestamp": 1704067200}'
    raw("latin1.jsonl", (good.replace("i1", "caf\xe9") + "\n" + good + "\n").encode("latin-1"))


def separators_and_lines() -> None:
    """Tab, semicolon and pipe files; CRLF, CR and blank lines; no final newline."""
    text("tab.tsv", HEADER.replace(",", "\t") + GOOD.replace(",", "\t"))
    text("semicolon.csv", HEADER.replace(",", ";") + GOOD.replace(",", ";"))
    text("pipe_headerless.csv", GOOD.replace(",", "|"))
    text("crlf.csv", (HEADER + GOOD).replace("\n", "\r\n") + "\r\n")
    text("cr_only.csv", (HEADER + GOOD).replace("\n", "\r"))
    text("blank_lines.csv", f"\n  \n{HEADER}\nu1,viewed,i1,{T}\n \t \n\nu2,viewed,i2,{T}\n\n\n")
    text("no_final_newline.csv", HEADER + GOOD.rstrip("\n"))


def columns() -> None:
    """Missing, extra and trailing fields; bad headers; empty and header-only files."""
    text(
        "fields.csv",
        HEADER
        + f"u1,purchased,i1,{T}\nu2,purchased,i2,{T},\nu3,purchased\nu4,purchased,i4,{T},x,y\n"
        f"u5,purchased,i5,{T}\n,,,\n",
    )
    text("trailing_separator_all.csv", HEADER.replace("\n", ",\n") + GOOD.replace("\n", ",\n"))
    text("header_missing_item.csv", "user_id,action,sku,timestamp\n" + GOOD)
    text("header_twice.csv", "user_id,action,item_id,user_id\n" + GOOD)
    text("header_only.csv", HEADER)
    text("header_only_blank_lines.jsonl", "\n \n")
    text("empty.csv", "")
    text("two_columns.csv", "u1,i1\nu2,i2\n")


def ids() -> None:
    """Odd ids in CSV and JSON Lines: control characters, blanks, lengths, typed values."""
    long_ok, long_bad = "i" * 256, "i" * 257
    text(
        "ids.csv",
        HEADER + f"u1,purchased,i1,{T}\nu\x002,purchased,i2,{T}\n\t,purchased,i3,{T}\n"
        f"   ,purchased,i4,{T}\n"
        f"\u00a0\u3000,purchased,i5,{T}\nu6,purchased,i\x7f6,{T}\nu7,vie\x85wed,i7,{T}\n"
        f"u8,purchased,{long_ok},{T}\nu9,purchased,{long_bad},{T}\n"
        f'"u\t10",purchased,i10,{T}\n{{"a": 1}},purchased,i11,{T}\n149.0,purchased,149,{T}\n',
    )
    lines = [
        {"user_id": "u1", "action": "purchased", "item_id": 149.0, "timestamp": T},
        {"user_id": "u1", "action": "purchased", "item_id": 149, "timestamp": T},
        {"user_id": "u2", "action": "purchased", "item_id": 149.5, "timestamp": T},
        {"user_id": {"id": 3}, "action": "purchased", "item_id": "i3", "timestamp": T},
        {"user_id": "u4", "action": "purchased", "item_id": ["i4"], "timestamp": T},
        {"user_id": "u5", "action": "purchased", "item_id": True, "timestamp": T},
        {"user_id": "u6", "action": "purchased", "item_id": None, "timestamp": T},
        {"user_id": "u7", "action": "purchased", "item_id": 1e3, "timestamp": T},
        {
            "user_id": 12345678901234567890,
            "action": "purchased",
            "item_id": "149.0",
            "timestamp": T,
        },
        {"user_id": "\t", "action": "purchased", "item_id": "i9", "timestamp": T},
        {"user_id": "u\u0000", "action": "purchased", "item_id": "i10", "timestamp": T},
        {"user_id": "u11", "action": {"a": 1}, "item_id": "i11", "timestamp": T},
    ]
    text("ids.jsonl", "".join(json.dumps(x) + "\n" for x in lines))


def timestamps() -> None:
    """Far future, before 1990, milliseconds, microseconds, nanoseconds, odd numbers."""
    values = [
        f"{T}",
        "9999-12-31",
        "1704068300000",
        "1704068300000000",
        "1704068300000000000",
        "12",
        "1989-12-31T23:59:59Z",
        "-5",
        "nan",
        "1e20",
        "2100-01-01T00:00:00Z",
        "1704068300.9",
        "2024-01-01T02:00:00+02:00",
        "",
    ]
    text(
        "timestamps.csv",
        HEADER + "".join(f"u{k},purchased,i{k},{v}\n" for k, v in enumerate(values)),
    )
    text(
        "far_future_one_row.csv",
        HEADER
        + "".join(f"u{k % 7},purchased,i{k % 5},{T + k}\n" for k in range(40))
        + "u1,purchased,i9,9999-12-31\n",
    )
    text(
        "milliseconds_all.csv",
        HEADER + "".join(f"u{k},purchased,i{k},{(T + k) * 1000}\n" for k in range(5)),
    )
    text(
        "timestamps.jsonl",
        "".join(
            json.dumps({"user_id": "u", "action": "purchased", "item_id": "i", "timestamp": v})
            + "\n"
            for v in (T, T * 1000, 1e300, "9999-12-31", True, None)
        ),
    )


def jsonl() -> None:
    """JSON Lines that are not objects, or not JSON; CRLF line ends."""
    good = '{"user_id": "u1", "action": "viewed", "item_id": "i1", "timestamp": 1704067200}'
    text(
        "not_objects.jsonl",
        f'{good}\n[1, 2]\n"text"\n42\nnull\n{{"user_id": "u2",\n\n{good}\r\n',
    )


def json_arrays() -> None:
    """Plain JSON arrays given as JSON Lines, on one line and pretty-printed."""
    rows = [{"user_id": "u1", "action": "purchased", "item_id": "i1", "timestamp": T}]
    text("array.json", json.dumps(rows) + "\n")
    text("array_pretty.json", json.dumps(rows, indent=2) + "\n")


def parquets() -> None:
    """Typed ids and times, wrong column types, missing columns, a corrupt file."""
    parquet(
        "ids_float.parquet",
        {
            "user_id": ["u1", "u2", "u3", "u4"],
            "action": ["purchased"] * 4,
            "item_id": pa.array([149.0, 149.5, float("nan"), 7.0], pa.float64()),
            "timestamp": pa.array([T] * 4, pa.int64()),
        },
    )
    parquet(
        "ids_struct.parquet",
        {"user_id": ["u1"], "action": ["viewed"], "item_id": [{"a": 1}], "timestamp": [T]},
    )
    parquet(
        "ids_bool.parquet",
        {"user_id": [True], "action": ["viewed"], "item_id": ["i1"], "timestamp": [T]},
    )
    parquet("missing_item.parquet", {"user_id": ["u1"], "action": ["viewed"], "sku": ["i1"]})
    parquet(
        "ts_types.parquet",
        {
            "user_id": pa.array([1, 2], pa.int32()),
            "action": ["viewed", "purchased"],
            "item_id": ["i1", "i2"],
            "timestamp": pa.array(
                [T * 1_000_000, (T + 60) * 1_000_000], pa.timestamp("us", tz="UTC")
            ),
        },
    )
    parquet(
        "ts_ms.parquet",
        {
            "user_id": ["u1", "u2"],
            "action": ["purchased"] * 2,
            "item_id": ["i1"] * 2,
            "timestamp": pa.array([T, T * 1000], pa.int64()),
        },
    )
    parquet(
        "ts_bool.parquet",
        {"user_id": ["u1"], "action": ["viewed"], "item_id": ["i1"], "timestamp": [True]},
    )
    user = pa.array([uuid.UUID(int=1).bytes], pa.uuid())
    parquet(
        "ids_uuid.parquet",
        {"user_id": user, "action": ["purchased"], "item_id": ["i1"], "timestamp": [T]},
    )
    raw("corrupt.parquet", b"PAR1" + b"\x00not parquet at all\x00" * 4 + b"PAR1")


def disguises() -> None:
    """Files whose name lies: Parquet or gzip named .csv, text named .gz or .parquet."""
    parquet(
        "parquet_named.csv",
        {"user_id": ["u1"], "action": ["purchased"], "item_id": ["i1"], "timestamp": [T]},
    )
    raw("gzip_named.csv", gzip.compress((HEADER + GOOD).encode(), mtime=0))
    raw("bom.csv.gz", gzip.compress(b"\xef\xbb\xbf" + (HEADER + GOOD).encode(), mtime=0))
    raw(
        "semicolon_crlf.csv.gz",
        gzip.compress((HEADER + GOOD).replace(",", ";").replace("\n", "\r\n").encode(), mtime=0),
    )
    text("plain_named.csv.gz", HEADER + GOOD)
    raw("truncated.csv.gz", gzip.compress((HEADER + GOOD * 50).encode(), mtime=0)[:60])
    raw("parquet.csv.gz", gzip.compress((HERE / "parquet_named.csv").read_bytes(), mtime=0))
    text("text_named.parquet", HEADER + GOOD)
    text("notes.md", "# not data\n")
    folder = HERE / "folder_with_readme"
    folder.mkdir(exist_ok=True)
    (folder / "events.csv").write_text(HEADER + GOOD)
    (folder / "README.md").write_text("These are events.\n")
    (folder / "LICENSE").write_text("no data here\n")


if __name__ == "__main__":
    for make in (
        quoting,
        encodings,
        separators_and_lines,
        columns,
        ids,
        timestamps,
        jsonl,
        json_arrays,
        parquets,
        disguises,
    ):
        make()
