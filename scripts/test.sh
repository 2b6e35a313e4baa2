#!/usr/bin/env bash
# Set up with the test tools, lint, and run the whole test suite (real DuckDB, Spark, PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
