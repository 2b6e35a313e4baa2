"""``shopscale recommend``: the batch job, from action logs to ranked lists per user."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shopscale.cli._common import (
    ConfigOption,
    VerboseOption,
    console,
    load_config,
    out,
    setup_logging,
)
from shopscale.cli._progress import human_rate, stage_progress
from shopscale.config import check_sections, load_params
from shopscale.errors import ConfigError
from shopscale.events import EventsParams
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, RunSummary, run
from shopscale.store.paths import output_uri

SECTIONS = {"events", "recommend", "output", "routes", "serve", "evaluate"}


def _split(value: str | None) -> tuple[str, ...] | None:
    """``"a,b"`` -> ``("a", "b")``; None stays None."""
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def _renames(values: list[str] | None) -> dict[str, str] | None:
    """``["pv=viewed"]`` -> ``{"pv": "viewed"}``."""
    if not values:
        return None
    pairs = {}
    for v in values:
        if "=" not in v:
            raise ConfigError(
                "--rename-action", "events.rename_actions", f"expected RAW=NAME, got {v!r}"
            )
        raw, name = v.split("=", 1)
        pairs[raw.strip()] = name.strip()
    return pairs


def recommend(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Files, folders or globs of CSV/JSONL/Parquet (gzip ok); with --engine spark, "
            "also URIs of Spark's file systems (hdfs://, s3a://, file://)."
        ),
    ],
    out_dir: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (a path or a file:// URI); with --engine spark also a URI "
            "of Spark's file systems (hdfs://, s3a://), published as whole versions.",
        ),
    ] = "recs",
    config: ConfigOption = None,
    top: Annotated[
        int | None, typer.Option("--top", "-n", help="List length per user [10].")
    ] = None,
    primary: Annotated[
        str | None, typer.Option(help="Action to recommend for [purchased].")
    ] = None,
    indicators: Annotated[
        str | None, typer.Option(help="Comma list of indicator actions [all seen].")
    ] = None,
    similarity: Annotated[
        str | None,
        typer.Option(help="llr (cross-occurrence) | cosine | jaccard | count | lift [llr]."),
    ] = None,
    max_items_per_user: Annotated[
        int | None, typer.Option(help="Recent distinct items kept per user and action [500].")
    ] = None,
    max_similar_per_item: Annotated[
        int | None, typer.Option(help="Similar items kept per item and action [50].")
    ] = None,
    vote: Annotated[
        str | None,
        typer.Option(
            help="What a kept indicator votes with: llr | geometric (sqrt of LLR x P(item | "
            "indicator)) | conditional (P(item | indicator)) [geometric]."
        ),
    ] = None,
    half_life_days: Annotated[
        float | None,
        typer.Option(help="Half-life of history, days; 0 = off; off without timestamps [30]."),
    ] = None,
    half_life_events: Annotated[
        float | None,
        typer.Option(
            help="Sequence half-life: a history entry counts half per this many newer entries "
            "of the same user; 0 = off; off without timestamps [20]."
        ),
    ] = None,
    self_weight: Annotated[
        float | None,
        typer.Option(help="Weight of the user's own unbought engagement (0 = pure CCO) [1e6]."),
    ] = None,
    self_prior: Annotated[
        float | None, typer.Option(help="Pseudo-count of the conversion rate [100].")
    ] = None,
    repeats: Annotated[
        str | None,
        typer.Option(
            help="How often own engagement counts: count (its events: an item viewed 5 "
            "times votes for itself 5 times as much) or once per item [count]."
        ),
    ] = None,
    unprompted_weight: Annotated[
        float | None,
        typer.Option(
            help="Weight of the prior for items bought without a view or cart far more often "
            "than usual (add-ons); 0 = off [0]."
        ),
    ] = None,
    exclude: Annotated[
        str | None, typer.Option(help="Never recommend: primary | any | none [primary].")
    ] = None,
    backfill: Annotated[
        bool | None,
        typer.Option("--backfill/--no-backfill", help="Fill short lists with popular items [on]."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="Recommendations file: parquet | csv | jsonl [parquet]."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="Also export to SQL, loaded in bulk: sqlite (shopscale.sqlite in --out) | "
            "sqlite:///path | postgresql://... (COPY) | none [none]."
        ),
    ] = None,
    keep_versions: Annotated[
        int | None,
        typer.Option(help="Versions of the results kept in --out, the published one too [3]."),
    ] = None,
    max_reject_ratio: Annotated[
        float | None, typer.Option(help="Fail when more rows than this share are rejected [0.01].")
    ] = None,
    actions: Annotated[
        str | None, typer.Option(help="Comma list of allowed actions; others are rejected [any].")
    ] = None,
    rename_action: Annotated[
        list[str] | None, typer.Option(help="RAW=NAME, e.g. pv=viewed (repeatable).")
    ] = None,
    user_column: Annotated[
        str | None, typer.Option(help="Name of the user column [user_id].")
    ] = None,
    item_column: Annotated[
        str | None, typer.Option(help="Name of the item column [item_id].")
    ] = None,
    action_column: Annotated[
        str | None, typer.Option(help="Name of the action column [action].")
    ] = None,
    timestamp_column: Annotated[
        str | None, typer.Option(help="Name of the timestamp column [timestamp].")
    ] = None,
    delimiter: Annotated[str | None, typer.Option(help="CSV field delimiter [,].")] = None,
    engine: Annotated[str, typer.Option(help="local (DuckDB + NumPy) | spark.")] = "local",
    master: Annotated[
        str | None,
        typer.Option(help="Spark master (--engine spark): local[N], spark://host:port, yarn."),
    ] = None,
    conf: Annotated[
        list[str] | None,
        typer.Option(help="Spark setting KEY=VALUE (--engine spark; repeatable)."),
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Worker threads [all cores].")] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(help="DuckDB memory before spilling to disk, e.g. 8GB [80% of RAM]."),
    ] = None,
    preview: Annotated[int, typer.Option(help="Users whose lists are printed at the end.")] = 3,
    verbose: VerboseOption = False,
) -> None:
    """Learn which items go together and write every user's top-N.

    Reads user action logs (user_id, action, item_id, timestamp), learns cross-occurrence
    indicators scored by log-likelihood ratio, and publishes recommendations.parquet,
    similar_items.parquet, the model state (model/), rejects.csv and summary.json into --out as
    one new version (`shopscale versions`, `shopscale rollback`); --db sqlite adds an SQL copy.

    Example:  shopscale recommend sample/events.csv --out recs/ --top 20
    """
    setup_logging(verbose)
    cfg, source = load_config(config)
    check_sections(cfg, SECTIONS, source=source)
    events = load_params(
        EventsParams,
        cfg,
        "events",
        source=source,
        overrides={
            "max_reject_ratio": max_reject_ratio,
            "actions": _split(actions),
            "rename_actions": _renames(rename_action),
            "user_column": user_column,
            "item_column": item_column,
            "action_column": action_column,
            "timestamp_column": timestamp_column,
            "delimiter": delimiter,
        },
        flag_names={"rename_actions": "--rename-action"},
    )
    params = load_params(
        RecommendParams,
        cfg,
        "recommend",
        source=source,
        overrides={
            "n": top,
            "primary": primary,
            "indicators": _split(indicators),
            "similarity": similarity,
            "max_items_per_user": max_items_per_user,
            "max_similar_per_item": max_similar_per_item,
            "vote": vote,
            "half_life_days": half_life_days,
            "half_life_events": half_life_events,
            "exclude": exclude,
            "self_weight": self_weight,
            "self_prior": self_prior,
            "repeats": repeats,
            "unprompted_weight": unprompted_weight,
            "backfill": backfill,
        },
        flag_names={"n": "--top"},
    )
    output = load_params(
        OutputParams,
        cfg,
        "output",
        source=source,
        overrides={"format": fmt, "db": db, "keep_versions": keep_versions},
    )
    with stage_progress(console) as progress:
        summary = run(
            inputs,
            out=out_dir,
            engine=engine,
            events=events,
            params=params,
            output=output,
            progress=progress,
            engine_options=_engine_options(engine, threads, memory_limit, master, conf),
        )
    print_summary(summary, "shopscale recommend")
    if preview > 0 and output_uri(out_dir) is None:  # a preview reads the local files
        from shopscale.cli.show import print_preview

        print_preview(Path(summary.outputs["recommendations"]), preview)


def _engine_options(
    engine: str,
    threads: int | None,
    memory_limit: str | None,
    master: str | None,
    conf: list[str] | None,
) -> dict[str, object]:
    """What the chosen engine is started with; a Spark flag with another engine is an error
    (it would be silently ignored)."""
    if engine != "spark":
        if master or conf:
            raise ConfigError("--master/--conf", "engine", "Spark settings need --engine spark")
        return {"threads": threads, "memory_limit": memory_limit}
    from shopscale.engine.spark.session import parse_conf

    return {"master": master or "local[2]", "conf": parse_conf(conf)}


def print_summary(s: RunSummary, title: str) -> None:
    """A run's summary (``recommend`` or ``update``) as a table: counts, then seconds per
    stage, then the output paths."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for label, value in [
        ("rows read", s.rows_read),
        ("accepted", s.accepted),
        ("rejected", s.rejected),
        ("users", s.users),
        ("items", s.items),
        ("interactions kept", s.interactions),
        ("recommendations", s.recommendations),
        ("similar-item rows", s.similar_items),
    ]:
        table.add_row(label, f"{value:,}")
    if s.recommendations:  # ``update --no-lists`` ranks nobody
        table.add_row("users with model recs", f"{s.users_with_model_recs:,}")
    table.add_row("actions", ", ".join(s.actions))
    for stage, secs in [*s.seconds.items(), ("total", sum(s.seconds.values()))]:
        rate = f"  {human_rate(s.rows_read / secs):>6} events/s" if secs > 0 else ""
        table.add_row(f"time: {stage}", f"{secs:.2f} s{rate}")
    out.print(table)
    for name, path in s.outputs.items():
        out.print(f"  [dim]{name:>16}[/] {path}")


def register(app: typer.Typer) -> None:
    """Add ``recommend`` to the shopscale command."""
    app.command(name="recommend")(recommend)
