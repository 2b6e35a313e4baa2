"""``shopscale serve``: the HTTP recommendation service over a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shopscale.cli._common import VerboseOption, setup_logging


def serve_command(
    model_dir: Annotated[
        Path, typer.Argument(help="Results folder of `recommend` (or `update`), with model/.")
    ],
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    items: Annotated[
        Path | None,
        typer.Option(help="Item catalogue CSV: item_id plus attribute columns (filters)."),
    ] = None,
    fold_every: Annotated[
        float, typer.Option(help="Seconds between background folds of posted events (0: off).")
    ] = 30.0,
    wal: Annotated[
        Path | None, typer.Option(help="Write-ahead log folder [MODEL_DIR/.wal].")
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Serve recommendations computed at request time; posted events are logged (fsync)
    before they are acknowledged and folded into the model in the background.

    Example:  shopscale serve recs/ --port 8000 --items items.csv
    """
    setup_logging(verbose)
    import uvicorn

    from shopscale.serve.app import create_app
    from shopscale.serve.service import ServeConfig, Service

    service = Service(
        ServeConfig(model_dir=model_dir, wal_dir=wal, items=items, fold_every_s=fold_every)
    )
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the shopscale command."""
    app.command(name="serve")(serve_command)
