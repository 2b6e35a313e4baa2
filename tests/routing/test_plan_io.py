"""Plan files: the CSV has the documented columns and plan.json reads back to the same routes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from shopscale.routing.check import check_plan
from shopscale.routing.job import plan_job
from shopscale.routing.params import RoutingParams
from shopscale.routing.plan_io import PLAN_COLUMNS, read_plan
from shopscale.routing.problem import Problem


def test_written_plan_reads_back_and_checks(
    small_problem: Problem, tables: dict[str, Path], tmp_path: Path
) -> None:
    """plan_job writes every file; plan.json read back by ids passes the checker at its cost."""
    params = RoutingParams(time_limit_s=1.0)
    summary = plan_job(
        tables["orders"], tmp_path, params=params, fleet=tables["fleet"], depots=tables["depots"]
    )
    names = {"plan.csv", "plan.json", "routes.geojson", "summary.json", "map.png"}
    assert names <= {p.name for p in tmp_path.iterdir()}
    assert summary["check"]["ok"]
    plan, reported = read_plan(tmp_path, small_problem)
    report = check_plan(small_problem, plan, reported_cost=reported)
    assert report.ok, report.violations
    with (tmp_path / "plan.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[: len(PLAN_COLUMNS)] == PLAN_COLUMNS
    visits = sum(len(r.orders()) + sum(k == "P" for k, _ in r.visits) for r in plan.routes)
    assert len(rows) == visits
    geo = json.loads((tmp_path / "routes.geojson").read_text())
    assert sum(f["geometry"]["type"] == "LineString" for f in geo["features"]) == len(plan.routes)
    assert [u["order_id"] for u in summary["unserved"]] == ["o11"]
