#!/usr/bin/env bash
# Project-local PostgreSQL, Redis and nginx for the production configuration, on 127.0.0.1 only,
# on non-default ports, with their data under var/services/. Installs the Debian packages if needed.
#   scripts/services.sh start    install (idempotent), start, create databases, print the URLs
#   scripts/services.sh stop     stop all three
#   scripts/services.sh status   show what runs; print the URLs
#   scripts/services.sh env      print the URLs only (eval "$(scripts/services.sh env)")
#   scripts/services.sh restart-postgres [seconds]  stop PostgreSQL (fast), stay down that long (0), start it
#   scripts/services.sh restart-redis [seconds]     stop Redis, stay down that long (0), start it
#   scripts/services.sh nginx    rewrite nginx.conf for RASA_PORTS and reload (or start) nginx
# Ports: PG_PORT (55432), REDIS_PORT (56379), NGINX_PORT (8088); nginx balances RASA_PORTS
# ("5006 5007"). Passwords are generated once into var/services/secrets.env (mode 600).
# SERVICES_DIR (var/services) with other ports runs a second, private set (the fault tests do).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SV="${SERVICES_DIR:-$ROOT/var/services}"  # another directory (and ports) gives a private set
PG_PORT="${PG_PORT:-55432}"
REDIS_PORT="${REDIS_PORT:-56379}"
NGINX_PORT="${NGINX_PORT:-8088}"
RASA_PORTS="${RASA_PORTS:-5006 5007}"
WAIT="${SERVICES_WAIT:-30}"  # seconds to wait for each service

log() { echo "services: $*" >&2; }

install_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v nginx >/dev/null || missing+=(nginx)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  [ "$(id -u)" = 0 ] || { log "need root to apt-get install ${missing[*]}"; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

secrets() {
  mkdir -p "$SV"
  if [ ! -s "$SV/secrets.env" ]; then
    umask 077
    {
      echo "APP_DB_PASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "TRACKER_DB_PASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "REDIS_PASSWORD=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    } > "$SV/secrets.env"
  fi
  # shellcheck disable=SC1091
  . "$SV/secrets.env"
}

wait_for() {  # wait_for <what> <command...>: run the command until it succeeds or WAIT seconds pass
  local what="$1"; shift
  local deadline=$((SECONDS + WAIT))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { log "$what did not come up in ${WAIT}s"; return 1; }
    sleep 0.3
  done
}

psql_super() { as_postgres "$(pg_bin)/psql" -h "$SV/pg-run" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

start_pg() {
  local bin; bin="$(pg_bin)"
  mkdir -p "$SV/pg" "$SV/pg-run"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$SV/pg" "$SV/pg-run"; chmod 700 "$SV/pg"; fi
  if [ ! -s "$SV/pg/PG_VERSION" ]; then
    log "initdb $SV/pg"
    as_postgres "$bin/initdb" -D "$SV/pg" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$SV/pg-initdb.log" 2>&1
  fi
  if ! as_postgres "$bin/pg_ctl" -D "$SV/pg" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$SV/pg" -l "$SV/pg-run/postgres.log" -w -t "$WAIT" \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $SV/pg-run -c max_connections=200" start >/dev/null
  fi
  wait_for postgresql as_postgres "$bin/pg_isready" -h 127.0.0.1 -p "$PG_PORT"
  make_db assistant assistant "$APP_DB_PASSWORD"
  make_db rasa_tracker rasa_tracker "$TRACKER_DB_PASSWORD"
}

make_db() {  # make_db <db> <user> <password>: create (or re-password) the owner and its database
  local db="$1" user="$2" password="$3"
  psql_super -d postgres -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN CREATE ROLE $user LOGIN; END IF;
    END \$\$;" -c "ALTER ROLE $user WITH LOGIN PASSWORD '$password';"
  if [ -z "$(psql_super -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
    psql_super -d postgres -c "CREATE DATABASE $db OWNER $user"
  fi
}

start_redis() {
  mkdir -p "$SV/redis"
  if ! redis_ping; then
    # The password goes in through a config file, so it is not in `ps` output.
    printf 'requirepass %s\n' "$REDIS_PASSWORD" > "$SV/redis/auth.conf"; chmod 600 "$SV/redis/auth.conf"
    redis-server "$SV/redis/auth.conf" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
      --daemonize yes --dir "$SV/redis" --pidfile "$SV/redis/redis.pid" --logfile "$SV/redis/redis.log"
  fi
  wait_for redis redis_ping
}

redis_ping() { REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

nginx_conf() {
  local prefix="$SV/nginx" upstreams="" port
  mkdir -p "$prefix/tmp" "$prefix/logs"
  for port in $RASA_PORTS; do upstreams+="        server 127.0.0.1:$port max_fails=1 fail_timeout=2s;"$'\n'; done
  python3 - "$ROOT/deploy/nginx.conf.template" "$prefix/nginx.conf" "$prefix" "$NGINX_PORT" "$upstreams" <<'PY'
import sys
src, dest, prefix, port, upstreams = sys.argv[1:]
text = open(src).read().replace("@PREFIX@", prefix).replace("@PORT@", port).replace("@UPSTREAMS@", upstreams.rstrip("\n"))
open(dest, "w").write(text)
PY
}

start_nginx() {
  nginx_conf
  local prefix="$SV/nginx"
  nginx -p "$prefix" -c "$prefix/nginx.conf" -t -q 2>"$prefix/test.log" || { cat "$prefix/test.log" >&2; exit 1; }
  if [ -s "$prefix/nginx.pid" ] && kill -0 "$(cat "$prefix/nginx.pid")" 2>/dev/null; then
    nginx -p "$prefix" -c "$prefix/nginx.conf" -s reload
  else
    nginx -p "$prefix" -c "$prefix/nginx.conf"
  fi
  wait_for nginx curl -fsS "http://127.0.0.1:$NGINX_PORT/healthz"
}

print_env() {
  echo "DATABASE_URL=postgresql+psycopg2://assistant:$APP_DB_PASSWORD@127.0.0.1:$PG_PORT/assistant"
  echo "TRACKER_DB_HOST=127.0.0.1"
  echo "TRACKER_DB_PORT=$PG_PORT"
  echo "TRACKER_DB_NAME=rasa_tracker"
  echo "TRACKER_DB_USER=rasa_tracker"
  echo "TRACKER_DB_PASSWORD=$TRACKER_DB_PASSWORD"
  echo "TRACKER_DB_URL=postgresql+psycopg2://rasa_tracker:$TRACKER_DB_PASSWORD@127.0.0.1:$PG_PORT/rasa_tracker"
  echo "REDIS_HOST=127.0.0.1"
  echo "REDIS_PORT=$REDIS_PORT"
  echo "REDIS_PASSWORD=$REDIS_PASSWORD"
  echo "REDIS_URL=redis://:$REDIS_PASSWORD@127.0.0.1:$REDIS_PORT/0"
  echo "NGINX_URL=http://127.0.0.1:$NGINX_PORT"
}

stop_all() {
  local bin prefix="$SV/nginx"
  if [ -s "$prefix/nginx.pid" ] && kill -0 "$(cat "$prefix/nginx.pid")" 2>/dev/null; then
    nginx -p "$prefix" -c "$prefix/nginx.conf" -s quit || kill "$(cat "$prefix/nginx.pid")" || true
  fi
  if [ -s "$SV/redis/redis.pid" ] && kill -0 "$(cat "$SV/redis/redis.pid")" 2>/dev/null; then
    kill "$(cat "$SV/redis/redis.pid")" || true
  fi
  if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && [ -s "$SV/pg/PG_VERSION" ]; then
    bin="$(pg_bin)"
    if as_postgres "$bin/pg_ctl" -D "$SV/pg" status >/dev/null 2>&1; then
      as_postgres "$bin/pg_ctl" -D "$SV/pg" -m fast -w -t "$WAIT" stop >/dev/null
    fi
  fi
  local deadline=$((SECONDS + WAIT))
  while { [ -s "$SV/redis/redis.pid" ] && kill -0 "$(cat "$SV/redis/redis.pid")" 2>/dev/null; } ||
        { [ -s "$prefix/nginx.pid" ] && kill -0 "$(cat "$prefix/nginx.pid")" 2>/dev/null; }; do
    [ $SECONDS -lt $deadline ] || { log "redis or nginx still running after ${WAIT}s"; return 1; }
    sleep 0.2
  done
  rm -f "$SV/redis/redis.pid"
  log "stopped"
}

restart_pg() {  # restart_pg <seconds down>: a clean restart, as a failover or upgrade would do
  local bin; bin="$(pg_bin)"
  if as_postgres "$bin/pg_ctl" -D "$SV/pg" status >/dev/null 2>&1; then
    as_postgres "$bin/pg_ctl" -D "$SV/pg" -m fast -w -t "$WAIT" stop >/dev/null
  fi
  sleep "${1:-0}"
  start_pg
  log "postgresql restarted"
}

restart_redis() {  # restart_redis <seconds down>: Redis keeps nothing (no persistence), as after a crash
  if [ -s "$SV/redis/redis.pid" ] && kill -0 "$(cat "$SV/redis/redis.pid")" 2>/dev/null; then
    local pid; pid="$(cat "$SV/redis/redis.pid")"
    kill "$pid"
    local deadline=$((SECONDS + WAIT))
    while kill -0 "$pid" 2>/dev/null; do
      [ $SECONDS -lt $deadline ] || { log "redis still running after ${WAIT}s"; return 1; }
      sleep 0.1
    done
    rm -f "$SV/redis/redis.pid"
  fi
  sleep "${1:-0}"
  start_redis
  log "redis restarted"
}

status() {
  local bin rc=0
  if ls /usr/lib/postgresql/*/bin/pg_isready >/dev/null 2>&1 && "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    echo "postgresql: up 127.0.0.1:$PG_PORT"; else echo "postgresql: down"; rc=1; fi
  if redis_ping; then echo "redis: up 127.0.0.1:$REDIS_PORT"; else echo "redis: down"; rc=1; fi
  if curl -fsS "http://127.0.0.1:$NGINX_PORT/healthz" >/dev/null 2>&1; then
    echo "nginx: up 127.0.0.1:$NGINX_PORT"; else echo "nginx: down"; rc=1; fi
  return $rc
}

case "${1:-}" in
  start) install_packages; secrets; start_pg; start_redis; start_nginx; print_env ;;
  stop) secrets; stop_all ;;
  status) secrets; status || true; print_env ;;
  env) secrets; print_env ;;
  restart-postgres) secrets; restart_pg "${2:-0}" ;;
  restart-redis) secrets; restart_redis "${2:-0}" ;;
  nginx) start_nginx ;;
  *) echo "usage: $0 start|stop|status|env|restart-postgres [s]|restart-redis [s]|nginx" >&2; exit 2 ;;
esac
