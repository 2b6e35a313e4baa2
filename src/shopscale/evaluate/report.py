"""The evaluation report: ``results.json`` (every number), PNG plots and ``index.html``.

Plots: each metric by k for every model (one figure per task), catalogue coverage@k, and the
seconds each model took (fit + recommend on the test split, tuning not included). Under each
task's table, shopscale is compared with the best other model by a paired bootstrap interval.
"""

from __future__ import annotations

import html
import itertools
from pathlib import Path
from typing import Any

from shopscale.evaluate.metrics import bootstrap_interval
from shopscale.store.files import atomic_path, write_json

ACCURACY = ("ndcg", "recall", "precision", "map", "hit_rate")
PROTOTYPES = frozenset({"shopscale-blend", "shopscale-repeats"})
"""Prototypes of the default model: neither a baseline nor shopscale's result."""
NOT_BASELINES = PROTOTYPES | {"shopscale", "shopscale-tuned"}
"""shopscale itself (its defaults, and tuned on validation) and its prototypes: never a
baseline shopscale is compared with. Its classic similarities (``shopscale-cosine`` ...) are."""


def compare_with_best(
    result: dict[str, Any], task: str, metric: str, *, model: str = "shopscale"
) -> dict[str, Any] | None:
    """``model`` minus the best baseline on ``metric`` (e.g. ``ndcg@10``) with a 95 % paired
    bootstrap interval over the test users; ``None`` if ``model`` or per-user scores are absent.
    """
    models = result["models"]
    mine = models.get(model, {}).get("per_user", {}).get(task, {}).get(metric)
    rivals = {
        name: entry["tasks"][task][metric]
        for name, entry in models.items()
        if name not in NOT_BASELINES | {model} and metric in entry["tasks"][task]
    }
    if mine is None or not rivals:
        return None
    best = max(sorted(rivals), key=lambda name: rivals[name])
    theirs = models[best]["per_user"][task][metric]
    diffs = [a - b for a, b in zip(mine, theirs, strict=True)]
    low, high = bootstrap_interval(diffs)
    return {
        "model": model,
        "baseline": best,
        "metric": metric,
        "difference": sum(diffs) / len(diffs) if diffs else 0.0,
        "low": low,
        "high": high,
        "users": len(diffs),
    }


def signed(x: float, places: int = 4) -> str:
    """``x`` with its sign at ``places`` decimals; a value those decimals would show as
    ±0 (``-0.0000``) is shown in scientific notation instead, so its sign stays readable."""
    x = x or 0.0  # -0.0 -> 0.0
    text = f"{x:+.{places}f}"
    if x != 0 and float(text) == 0:
        return f"{x:+.1e}"
    return text


def verdict(cmp: dict[str, Any]) -> str:
    """In words: ahead / behind / not distinguishable at 95 %."""
    if cmp["low"] > 0:
        return "ahead"
    if cmp["high"] < 0:
        return "behind"
    return "ahead, within noise" if cmp["difference"] > 0 else "not ahead, within noise"


def _pyplot() -> Any:
    """matplotlib's pyplot with the file-only backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_metrics_by_k(result: dict[str, Any], task: str, path: Path) -> Path:
    """One panel per accuracy metric: its value at each k, one line per model."""
    plt = _pyplot()
    ks = result["params"]["k"]
    fig, axes = plt.subplots(1, len(ACCURACY), figsize=(4 * len(ACCURACY), 3.6), dpi=100)
    for ax, metric in zip(axes, ACCURACY, strict=True):
        for name, model in result["models"].items():
            values = [model["tasks"][task][f"{metric}@{k}"] for k in ks]
            ax.plot(ks, values, marker="o", label=name)
        ax.set_title(f"{metric}@k")
        ax.set_xlabel("k")
        ax.set_xticks(ks)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"{task}")
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_bars(result: dict[str, Any], key: str, title: str, path: Path) -> Path:
    """Horizontal bars of one number per model (``key`` is a function of the model entry)."""
    plt = _pyplot()
    names = list(result["models"])
    tasks = result["params"]["tasks"]
    k = result["params"]["k"][0]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) * max(1, len(tasks)) + 1.2), dpi=100)
    height = 0.8 / (len(tasks) if key == "coverage" else 1)
    for t, task in enumerate(tasks if key == "coverage" else [None]):
        values = [
            m["tasks"][task][f"coverage@{k}"] if task else m["seconds"]
            for m in result["models"].values()
        ]
        ax.barh([n + t * height for n in range(len(names))], values, height, label=task or key)
    ax.set_yticks(
        [n + height * (len(tasks) - 1) / 2 if key == "coverage" else n for n in range(len(names))],
        names,
    )
    ax.invert_yaxis()
    ax.set_title(title if key != "coverage" else f"{title} (k={k})")
    if key == "coverage":
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    """Write a figure atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def _table(result: dict[str, Any], task: str) -> str:
    """HTML table: one row per model, every metric at every k, model share and seconds."""
    ks = result["params"]["k"]
    cols = [f"{m}@{k}" for k in ks for m in (*ACCURACY, "coverage")]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["model", *cols, "model share", "s"])
    rows = []
    for name, model in result["models"].items():
        v = model["tasks"][task]
        cells = "".join(f"<td>{v[c]:.4f}</td>" for c in cols)
        rows.append(
            f"<tr><td title='{html.escape(str(model['config']))}'>{html.escape(name)}</td>"
            f"{cells}<td>{v['model_share']:.3f}</td><td>{model['seconds']:.1f}</td></tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _comparison(result: dict[str, Any], task: str) -> str:
    """One line per metric and shopscale row (defaults; tuned, when run): it minus the best
    baseline, with its interval."""
    lines = []
    for model, metric in itertools.product(
        ("shopscale", "shopscale-tuned"), ("ndcg@10", "recall@10")
    ):
        cmp = compare_with_best(result, task, metric, model=model)
        if cmp is not None:
            lines.append(
                f"<li>{metric}: {model} − {html.escape(cmp['baseline'])} = "
                f"{signed(cmp['difference'])} (95 % paired bootstrap interval "
                f"{signed(cmp['low'])} to {signed(cmp['high'])}): {verdict(cmp)}</li>"
            )
    return f"<ul>{''.join(lines)}</ul>" if lines else ""


def search_lines(result: dict[str, Any]) -> list[str]:
    """One line per model whose search keeps its best only beyond noise (``shopscale-tuned``):
    the validation gain of the best it found, its interval, and what it tested."""
    lines = []
    for name, model in result["models"].items():
        found = model.get("search")
        if found is None or found["adopt"] != "significant":
            continue
        lines.append(
            f"{name}: best of {found['tried']} on validation {found['best']:.4f} vs the "
            f"defaults' {found['default']:.4f}, gain {signed(found['best'] - found['default'])} "
            f"(95 % paired interval {signed(found['low'])} to {signed(found['high'])} over "
            f"{found['users']:,} users): {found['verdict']}; tested the {found['kept']}"
        )
    return lines


def write_report(result: dict[str, Any], out: Path, *, title: str = "shopscale evaluate") -> Path:
    """Write results.json, the PNG plots and index.html into ``out``; return the HTML path."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", result)
    images = [
        plot_metrics_by_k(result, t, out / f"metrics-{t}.png") for t in result["params"]["tasks"]
    ]
    images.append(plot_bars(result, "coverage", "catalogue coverage", out / "coverage.png"))
    images.append(plot_bars(result, "seconds", "seconds (fit + recommend)", out / "timing.png"))
    data = result["data"]
    sections = [
        f"<h2>{html.escape(t)}</h2><p>{data['test_users'][t]:,} test users</p>{_table(result, t)}"
        + _comparison(result, t)
        for t in result["params"]["tasks"]
    ]
    searches = "".join(f"<li>{html.escape(line)}</li>" for line in search_lines(result))
    if searches:
        sections.append(f"<h2>Tuning</h2><ul>{searches}</ul>")
    split = result["params"]["split"]["label"]
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "td:first-child{text-align:left}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>split <b>{html.escape(split)}</b>; "
        f"{data['events']:,} events, {data['users']:,} users, {data['items']:,} items; "
        f"train {data['train_events']:,} events. Every model tuned on the validation split "
        f"with a budget of {result['params']['budget']} configurations (hover a model for its "
        "configuration). Numbers: <a href='results.json'>results.json</a>.</p>"
        + "".join(sections)
        + "".join(f"<p><img src='{p.name}'></p>" for p in images)
        + "</body></html>\n"
    )
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out / "index.html"
