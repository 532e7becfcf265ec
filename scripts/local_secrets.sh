# Sourced by scripts/run.sh and scripts/run_cluster.sh: the local WhatsApp settings shared by the
# simulator and the channel. Secrets are made fresh for this run and never printed; any variable
# already set is kept. SIM_PORT (8080) is where the simulator serves the Graph API.
secret() { python -c 'import secrets; print(secrets.token_hex(24))'; }
export WHATSAPP_PHONE_NUMBER_ID="${WHATSAPP_PHONE_NUMBER_ID:-109876543210}"
export WHATSAPP_BUSINESS_ACCOUNT_ID="${WHATSAPP_BUSINESS_ACCOUNT_ID:-102030405060}"
export WHATSAPP_API_TOKEN="${WHATSAPP_API_TOKEN:-$(secret)}"
export WHATSAPP_APP_SECRET="${WHATSAPP_APP_SECRET:-$(secret)}"
export WHATSAPP_WEBHOOK_VERIFY_TOKEN="${WHATSAPP_WEBHOOK_VERIFY_TOKEN:-$(secret)}"
export WHATSAPP_GRAPH_API_URL="${WHATSAPP_GRAPH_API_URL:-http://127.0.0.1:${SIM_PORT:-8080}}"
