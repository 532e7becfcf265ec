#!/usr/bin/env bash
# Set up and run the assistant on the embedded default: SQLite demo data, trained model,
# action server on 127.0.0.1:5055 and Rasa on 127.0.0.1:5005.
#   scripts/run.sh          serve (REST channel at /webhooks/rest/webhook)
#   scripts/run.sh shell    chat in the terminal as NUMBER (default 919800000001)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/prepare.sh
export PATH="$PWD/.venv/bin:$PATH" RASA_TELEMETRY_ENABLED=false SANIC_HOST=127.0.0.1

python -m rasa_sdk --actions actions --port 5055 --quiet &
actions_pid=$!
trap 'kill $actions_pid 2>/dev/null; wait $actions_pid 2>/dev/null' EXIT INT TERM

if [ "${1:-serve}" = "shell" ]; then
  rasa shell --model models/assistant.tar.gz --conversation-id "${NUMBER:-919800000001}"
else
  echo "Assistant: http://127.0.0.1:5005/webhooks/rest/webhook  (actions on 127.0.0.1:5055)"
  rasa run --model models/assistant.tar.gz --interface 127.0.0.1 --port 5005 \
    --credentials credentials.yml --endpoints endpoints.yml
fi
