"""DataFrame helpers of the Spark engine: Arrow schemas as Spark DDL, local paths as URIs, and
Parquet outputs written by the executors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from shopscale.engine.base import RECOMMENDATIONS_SCHEMA

_DDL = {
    pa.int8(): "byte",
    pa.int16(): "short",
    pa.int32(): "int",
    pa.int64(): "long",
    pa.float64(): "double",
    pa.string(): "string",
    pa.bool_(): "boolean",
}


def ddl(schema: pa.Schema) -> str:
    """The Spark DDL of an Arrow schema (the types ``mapInArrow`` tasks give)."""
    return ", ".join(f"{f.name} {_DDL[f.type]}" for f in schema)


RECS_DDL = ddl(RECOMMENDATIONS_SCHEMA)


def uri(path: Path) -> str:
    """A local path as the URI Spark's file systems read and write."""
    return Path(path).absolute().as_uri()


def write_parquet(df: Any, dest: Path, *, count: bool = True) -> int:
    """Write a DataFrame as a folder of Parquet parts (zstd) from the executors; return its
    rows (read from the parts' footers) or 0 without ``count``."""
    df.write.option("compression", "zstd").parquet(uri(dest))
    if not count:
        return 0
    return int(df.sparkSession.read.parquet(uri(dest)).count())
