#!/usr/bin/env bash
# Set up, generate a sample log, run the main job on the embedded engine, show the result.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
S=.venv/bin/shopscale
$S generate --events "${EVENTS:-200000}" --out sample/events.csv
$S recommend sample/events.csv --out recs/
$S show recs/ --user 42
# what goes with user 42's top item
ITEM=$(.venv/bin/python -c "import duckdb; print(duckdb.sql(\"select item_id from 'recs/recommendations.parquet' where user_id = '42' order by rank limit 1\").fetchall()[0][0])")
$S similar recs/ --item "$ITEM"
