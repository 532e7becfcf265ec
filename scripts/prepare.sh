#!/usr/bin/env bash
# Migrate the database, reset the demo data (dated relative to today; KEEP_DATA=1 keeps what
# is there), and train the model if data or config changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" RASA_TELEMETRY_ENABLED=false
alembic upgrade head
if [ "${KEEP_DATA:-0}" = "1" ]; then python -m database.seed --if-empty; else python -m database.seed; fi
# rasa train reuses the model when nothing it depends on changed.
rasa train --fixed-model-name assistant 2>&1 | grep -E "trained and saved|Nothing changed|rror" || true
[ -f models/assistant.tar.gz ] || { echo "training failed: no models/assistant.tar.gz" >&2; exit 1; }
