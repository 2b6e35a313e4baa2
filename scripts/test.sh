#!/usr/bin/env bash
# Set up with the test tools, lint, and run the whole test suite (real DuckDB, Spark, PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
# two workers (this machine has two cores); every Spark test (xdist_group "spark") runs on one
# of them, one after the other, so two JVMs never compete for the two cores
.venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
