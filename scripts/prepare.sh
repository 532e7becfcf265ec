#!/usr/bin/env bash
# Migrate and seed the database, then train the model if data or config changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
alembic upgrade head >/dev/null
python -m actions.db.seed
# rasa train reuses the newest model in models/ when nothing changed.
rasa train --quiet --fixed-model-name assistant >/dev/null
