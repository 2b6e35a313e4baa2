"""Where map-reduce runs: the contract (``base``) and its engines, chosen by name."""

from __future__ import annotations

from typing import Literal

from shopscale.engine.base import Engine
from shopscale.errors import ShopscaleError

EngineName = Literal["local", "spark"]


def get_engine(name: str, **options: object) -> Engine:
    """The engine called ``name``; Spark is imported only when asked for."""
    if name == "local":
        from shopscale.engine.local.engine import LocalEngine

        return LocalEngine(**options)  # type: ignore[arg-type]
    if name == "spark":
        from shopscale.engine.spark.recommend import SparkEngine

        return SparkEngine(**options)  # type: ignore[arg-type]
    raise ShopscaleError(f"unknown engine {name!r} (choose: local, spark)")
