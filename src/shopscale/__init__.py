"""shopscale: recommendations and delivery routes for an online shop, on one machine or Spark.

The public surface is these few names; everything else may change between versions.

    from shopscale import RecommendParams, recommend
    summary = recommend("events.csv", out="recs/", params=RecommendParams(n=20))
"""

import os
from typing import TYPE_CHECKING, Any

# Compiled numba kernels are cached per user, not inside the (possibly read-only, or zipped
# for Spark) package folder; set here, before any module of the package imports numba.
os.environ.setdefault(
    "NUMBA_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "shopscale-numba")
)

import shopscale.recommend as _recommend_package  # noqa: F401  (light; see ``recommend``)
from shopscale.errors import ConfigError, EngineError, InputError, ShopscaleError

if TYPE_CHECKING:
    from shopscale.events import EventsParams
    from shopscale.recommend.params import RecommendParams
    from shopscale.recommend.pipeline import OutputParams, RunSummary
    from shopscale.recommend.pipeline import run as recommend
else:

    def recommend(*args: Any, **kwargs: Any) -> Any:
        """Run the recommendation job: ``shopscale.recommend.pipeline.run``.

        Bound after the ``shopscale.recommend`` package was imported above, so this function,
        not the package, is ``shopscale.recommend``; the job's libraries load on first call."""
        from shopscale.recommend.pipeline import run

        return run(*args, **kwargs)


_LAZY = {
    "EventsParams": ("shopscale.events", "EventsParams"),
    "RecommendParams": ("shopscale.recommend.params", "RecommendParams"),
    "OutputParams": ("shopscale.recommend.pipeline", "OutputParams"),
    "RunSummary": ("shopscale.recommend.pipeline", "RunSummary"),
}
"""Loaded on first use: ``import shopscale`` (and the command's start-up) stays light."""


def __getattr__(name: str) -> Any:
    """The public names that need the heavy libraries, imported when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module 'shopscale' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "EngineError",
    "EventsParams",
    "InputError",
    "OutputParams",
    "RecommendParams",
    "RunSummary",
    "ShopscaleError",
    "__version__",
    "recommend",
]
