"""Draw a plan's routes on a map (PNG), one colour per route, depots as black squares."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_route_map(doc: dict[str, Any], path: Path, *, title: str | None = None) -> Path:
    """Save a PNG of the routes in a plan document (``plan.json`` content) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    fig, ax = plt.subplots(figsize=(9, 9), dpi=110)
    paths = [r["path"] for r in doc.get("routes", []) if r.get("path")]
    cmap = plt.get_cmap("tab20")
    colours = [cmap(k % 20) for k in range(len(paths))]
    ax.add_collection(LineCollection(paths, colors=colours, linewidths=0.7, alpha=0.9))
    stops = [p for path_ in paths for p in path_[1:-1]]
    if stops:
        xs, ys = zip(*stops, strict=True)
        ax.scatter(xs, ys, s=3, c="0.3", zorder=2, linewidths=0)
    depots = doc.get("depots", [])
    if depots:
        ax.scatter([d["x"] for d in depots], [d["y"] for d in depots], marker="s", s=40, c="k")
    ax.autoscale()
    ax.set_aspect("equal" if not doc.get("geographic") else "auto")
    ax.set_xlabel("lon" if doc.get("geographic") else "x")
    ax.set_ylabel("lat" if doc.get("geographic") else "y")
    ax.set_title(title or f"{doc.get('name', 'plan')}: {len(paths)} routes")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
