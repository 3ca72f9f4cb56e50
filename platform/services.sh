#!/usr/bin/env bash
# Start PostgreSQL and Redis when they are installed here but not running; print what is reachable.
# Used by `make test` and .ci/run. With RECS_REQUIRE_SERVICES=1 a service that stays down is an error.
set -u
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}

up() {  # up HOST PORT: is something listening?
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_up() {
  for _ in $(seq 1 30); do up "$1" "$2" && return 0; sleep 1; done
  return 1
}

if ! up "$PG_HOST" "$PG_PORT" && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >&2 || true
  wait_up "$PG_HOST" "$PG_PORT" || true
fi
if ! up 127.0.0.1 "$REDIS_PORT" && command -v redis-server >/dev/null 2>&1; then
  echo "starting Redis" >&2
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2 || true
  wait_up 127.0.0.1 "$REDIS_PORT" || true
fi

status=0
if up "$PG_HOST" "$PG_PORT"; then echo "postgres=up"; else echo "postgres=down"; status=1; fi
if up 127.0.0.1 "$REDIS_PORT"; then echo "redis=up"; else echo "redis=down"; status=1; fi
if [ "${RECS_REQUIRE_SERVICES:-0}" = "1" ] && [ $status -ne 0 ]; then
  echo "PostgreSQL and Redis are required here (RECS_REQUIRE_SERVICES=1) but not both are reachable." >&2
  exit 1
fi
exit 0
