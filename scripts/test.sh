#!/usr/bin/env bash
# Set up with the test tools, lint, and run the whole test suite (real DuckDB, Spark, PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
# two workers (this machine has two cores); a file's tests stay on one worker, so its module- and
# session-scoped fixtures (a Spark session, a PostgreSQL server, a test cluster) start once
.venv/bin/python -m pytest -n 2 --dist loadfile "$@"
