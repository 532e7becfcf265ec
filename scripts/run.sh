#!/usr/bin/env bash
# Set up and run the assistant on the embedded default: SQLite demo data, trained model, the
# action server on 127.0.0.1:5055, Rasa on 127.0.0.1:5005 with the WhatsApp channel, and the local
# WhatsApp simulator on 127.0.0.1:8080 playing Meta (it signs webhooks and serves the Graph API).
#   scripts/run.sh          serve everything; open the simulator's address it prints
#   scripts/run.sh shell    chat in the terminal as NUMBER (default 919800000001), no channel
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/prepare.sh
export PATH="$PWD/.venv/bin:$PATH" RASA_TELEMETRY_ENABLED=false SANIC_HOST=127.0.0.1
export PYTHONWARNINGS="ignore::DeprecationWarning"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

SANIC_HOST=127.0.0.1 python -m rasa_sdk --actions actions --port 5055 --quiet &  # trusts the sender id: loopback only
pids+=($!)

if [ "${1:-serve}" = "shell" ]; then
  # rasa shell serves the REST channel (the caller picks the sender id): on loopback only.
  rasa shell --model models/assistant.tar.gz --interface 127.0.0.1 --conversation-id "${NUMBER:-919800000001}"
  exit 0
fi

source scripts/local_secrets.sh
# The operator API and dashboard token: kept in a private file, not printed.
if [ -z "${MANAGEMENT_API_TOKEN:-}" ]; then
  umask 077; secret > var/management-token; umask 022
  MANAGEMENT_API_TOKEN="$(cat var/management-token)"
fi
export MANAGEMENT_API_TOKEN
# The data API's token (a machine's, not the operators'): kept in a private file, not printed.
if [ -z "${DATA_API_TOKEN:-}" ]; then
  [ -s var/data-token ] || { umask 077; secret > var/data-token; umask 022; }
  DATA_API_TOKEN="$(cat var/data-token)"
fi
export DATA_API_TOKEN

python -m simulator --port 8080 --rasa-webhook http://127.0.0.1:5005/webhooks/whatsapp/webhook &
pids+=($!)

rasa run --model models/assistant.tar.gz --interface 127.0.0.1 --port 5005 \
  --credentials credentials.yml --endpoints endpoints.yml --quiet &
pids+=($!)
until curl -fs http://127.0.0.1:5005/ >/dev/null 2>&1; do
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "rasa run exited; see its output above" >&2; exit 1; }
  sleep 1
done
echo
echo "Ready. Chat in the WhatsApp simulator: http://127.0.0.1:8080/"
echo "Operator dashboard: http://127.0.0.1:5005/api/whatsapp/dashboard (token in var/management-token)"
echo "Data API: http://127.0.0.1:5005/api/data (token in var/data-token; README, \"Loading your own data\")"
echo "(Rasa 127.0.0.1:5005, actions 127.0.0.1:5055; Ctrl-C stops everything)"
wait -n "${pids[@]}"
