"""``shopscale import``: turn a public data set's folder into a shopscale event log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pyarrow.compute as pc
import typer

from shopscale.cli._common import VerboseOption, out, setup_logging
from shopscale.importers import IMPORTERS, import_dataset, output_format, write_events
from shopscale.store.paths import check_output_file, writing

HELP = (
    "Convert a public data set folder to events (user_id, action, item_id[, timestamp]). "
    f"NAME is one of: {', '.join(IMPORTERS)}. Example:  shopscale import movielens-100k "
    "../shared/data/movielens-100k --out ml100k.parquet"
)


def import_(
    name: Annotated[str, typer.Argument(help=f"Data set: {' | '.join(IMPORTERS)}.")],
    src_dir: Annotated[Path, typer.Argument(help="The data set's folder.")],
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help="File to write (.parquet, .csv or .jsonl).")
    ] = Path("events.parquet"),
    verbose: VerboseOption = False,
) -> None:
    """Write the data set's events in shopscale's schema and print the action counts."""
    setup_logging(verbose)
    output_format(out_path)
    check_output_file(out_path)
    start = time.perf_counter()
    table = import_dataset(name, src_dir)
    with writing(out_path):
        rows = write_events(table, out_path)
    counts = {r["values"]: r["counts"] for r in pc.value_counts(table["action"]).to_pylist()}
    listed = ", ".join(f"{a} {c:,}" for a, c in sorted(counts.items()))
    timing = "with timestamps" if "timestamp" in table.column_names else "no timestamps"
    out.print(
        f"wrote {rows:,} events ({listed}; {timing}) to {out_path} "
        f"in {time.perf_counter() - start:.1f} s",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add the ``import`` command to ``app``."""
    app.command("import", help=HELP)(import_)
