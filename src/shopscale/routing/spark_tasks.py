"""Run routing solver tasks as Spark tasks: one partition per sub-problem."""

from __future__ import annotations

from shopscale.engine.spark.session import get_spark
from shopscale.errors import EngineError
from shopscale.routing.solve import SolveOutcome
from shopscale.routing.tasks import SolveTask, run_task


class SparkRunner:
    """Solves each batch of tasks with ``sc.parallelize(...).map(run_task).collect()``."""

    name = "spark"

    def __init__(self, master: str = "local[2]") -> None:
        self._spark = get_spark(master, app_name="shopscale-routes")

    def run(self, tasks: list[SolveTask]) -> list[SolveOutcome]:
        """Solve ``tasks`` on the cluster; order of results follows ``tasks``."""
        if not tasks:
            return []
        sc = self._spark.sparkContext
        try:
            return sc.parallelize(tasks, numSlices=len(tasks)).map(run_task).collect()
        except Exception as exc:  # Py4J wraps executor errors; keep stage and engine names
            raise EngineError("solve", "spark", f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Leave the shared session running (tests and the CLI stop it at exit)."""
