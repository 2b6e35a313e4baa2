"""shopscale: recommendations and delivery routes for an online shop, on one machine or Spark.

The public surface is these few names; everything else may change between versions.

    from shopscale import RecommendParams, recommend
    summary = recommend("events.csv", out="recs/", params=RecommendParams(n=20))
"""

from shopscale.errors import ConfigError, EngineError, InputError, ShopscaleError
from shopscale.events import EventsParams
from shopscale.recommend.params import RecommendParams
from shopscale.recommend.pipeline import OutputParams, RunSummary
from shopscale.recommend.pipeline import run as recommend

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
