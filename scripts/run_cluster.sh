#!/usr/bin/env bash
# The production configuration on one machine, everything on 127.0.0.1: PostgreSQL, Redis and nginx
# (scripts/services.sh), the action server (5055), two `rasa run` instances (5006, 5007) sharing the
# PostgreSQL tracker store, the Redis lock store and the business/channel database, nginx on 8088
# balancing /webhooks/whatsapp/webhook across them, and the WhatsApp simulator (8080) playing Meta.
#   scripts/run_cluster.sh          serve until Ctrl-C; chat at http://127.0.0.1:8080/
#   scripts/run_cluster.sh smoke    start, send signed messages through nginx, check each is
#                                   answered exactly once at the simulator, stop (exit 1 if not)
# KEEP_DATA=1 keeps the business data; KEEP_SERVICES=1 leaves PostgreSQL/Redis/nginx running on exit.
# Logs: var/cluster/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-serve}"
RASA_PORTS="${RASA_PORTS:-5006 5007}"
ACTION_PORT="${ACTION_PORT:-5055}"
SIM_PORT="${SIM_PORT:-8080}"
export NGINX_PORT="${NGINX_PORT:-8088}" RASA_PORTS
LOGS="$PWD/var/cluster"
mkdir -p "$LOGS"

[ -x .venv/bin/rasa ] || bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH" RASA_TELEMETRY_ENABLED=false SANIC_HOST=127.0.0.1 PYTHONPATH="$PWD"
export PYTHONWARNINGS="ignore::DeprecationWarning"
[ -f models/assistant.tar.gz ] || rasa train --fixed-model-name assistant --quiet

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "${KEEP_SERVICES:-0}" = 1 ] || bash scripts/services.sh stop || true
}
trap cleanup EXIT INT TERM

# PostgreSQL, Redis, nginx; their URLs and passwords become this shell's environment.
while IFS='=' read -r key value; do export "$key=$value"; done < <(bash scripts/services.sh start)
export ACTION_ENDPOINT_URL="http://127.0.0.1:$ACTION_PORT/webhook"

alembic upgrade head >"$LOGS/setup.log" 2>&1
[ "${KEEP_DATA:-0}" = 1 ] || python -m database.seed >>"$LOGS/setup.log" 2>&1

source scripts/local_secrets.sh
export WHATSAPP_MEDIA_DIR="${WHATSAPP_MEDIA_DIR:-$PWD/var/media}"

wait_url() {  # wait_url <url> <pid> <seconds>
  local deadline=$((SECONDS + $3))
  until curl -s -o /dev/null "$1"; do
    kill -0 "$2" 2>/dev/null || { echo "process for $1 exited; see $LOGS" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { echo "$1 did not come up in $3s; see $LOGS" >&2; exit 1; }
    sleep 1
  done
}

# The action server trusts the sender id Rasa gives it: loopback (or a private network) only.
SANIC_HOST=127.0.0.1 python -m rasa_sdk --actions actions --port "$ACTION_PORT" >"$LOGS/actions.log" 2>&1 &
pids+=($!)
wait_url "http://127.0.0.1:$ACTION_PORT/health" "${pids[-1]}" 60

python -m simulator --port "$SIM_PORT" \
  --rasa-webhook "http://127.0.0.1:$NGINX_PORT/webhooks/whatsapp/webhook" >"$LOGS/simulator.log" 2>&1 &
pids+=($!)

rasa_pids=()
for port in $RASA_PORTS; do
  rasa run --model models/assistant.tar.gz --interface 127.0.0.1 --port "$port" \
    --credentials deploy/credentials.production.yml --endpoints endpoints.production.yml \
    >"$LOGS/rasa-$port.log" 2>&1 &
  pids+=($!); rasa_pids+=($!)
done
i=0
for port in $RASA_PORTS; do wait_url "http://127.0.0.1:$port/" "${rasa_pids[$i]}" 240; i=$((i + 1)); done
wait_url "http://127.0.0.1:$SIM_PORT/" "${pids[1]}" 30

if [ "$MODE" = smoke ]; then
  python - "$NGINX_PORT" "$SIM_PORT" <<'PY'
"""Send signed texts from three numbers through nginx; check each reply reaches the simulator once."""
import collections, json, os, sys, time, urllib.request
from tests.connectors.whatsapp_support import delivery, signed, text

nginx, sim = sys.argv[1:]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
numbers = ["919800000001", "919800000002", "919800000009"]
acked = 0
for round_ in range(3):
    for wa_id in numbers:
        raw, headers = signed(delivery(text(wa_id, "hi" if round_ == 0 else "menu")), os.environ["WHATSAPP_APP_SECRET"])
        request = urllib.request.Request(f"http://127.0.0.1:{nginx}/webhooks/whatsapp/webhook", raw, headers)
        with opener.open(request, timeout=15) as response:
            acked += response.status == 200
        if round_ == 0:  # replay the first delivery: Meta retries; it must not be answered twice
            with opener.open(urllib.request.Request(request.full_url, raw, headers), timeout=15) as response:
                assert response.status == 200
deadline, last, stable = time.monotonic() + 90, -1, 0
while time.monotonic() < deadline:
    sent = json.load(opener.open(f"http://127.0.0.1:{sim}/_test/messages", timeout=10))["messages"]
    stable = stable + 1 if len(sent) == last else 0
    last = len(sent)
    if last and stable >= 6:
        break
    time.sleep(0.5)
by_row = collections.Counter(m.get("biz_opaque_callback_data") for m in sent)
per_number = collections.Counter("".join(c for c in str(m.get("to")) if c.isdigit()) for m in sent)
duplicates = {row: n for row, n in by_row.items() if n > 1}
print(f"smoke: acked {acked}/9 deliveries (+3 replays), {len(sent)} replies at the simulator, "
      f"per number {dict(per_number)}, duplicate outbox rows {duplicates or 0}")
ok = acked == 9 and not duplicates and all(per_number[n] >= 3 for n in numbers) and None not in by_row
sys.exit(0 if ok else 1)
PY
  echo "webhook requests per instance (nginx access log):"
  grep "POST /webhooks/whatsapp/webhook" var/services/nginx/access.log | grep -o 'upstream=[^ ]*' | sort | uniq -c
  exit 0
fi

echo
echo "Ready. Chat in the WhatsApp simulator: http://127.0.0.1:$SIM_PORT/"
echo "(nginx 127.0.0.1:$NGINX_PORT -> rasa $RASA_PORTS; actions 127.0.0.1:$ACTION_PORT; logs $LOGS; Ctrl-C stops everything)"
wait -n "${pids[@]}"
