#!/usr/bin/env bash
# Run the suite. Uses PostgreSQL and Redis when reachable (starting them if installed), else SQLite and
# the on-disk shared cache, where the integration tests that need the real services skip with a reason.
# RECS_NO_SERVICES=1 runs on SQLite and the on-disk cache even when the services are up (.ci/run's
# first pass: the embedded default, as `make demo` runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if [ "${RECS_NO_SERVICES:-0}" = "1" ]; then
  unset DATABASE_URL REDIS_URL CELERY_BROKER_URL CELERY_RESULT_BACKEND
  export RECS_REQUIRE_SERVICES=0
else
  state=$(bash platform/services.sh)
  if grep -q "postgres=up" <<<"$state" && [ -z "${DATABASE_URL:-}" ]; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/recs"
  fi
  if grep -q "redis=up" <<<"$state" && [ -z "${REDIS_URL:-}" ]; then
    export REDIS_URL="redis://127.0.0.1:6379/9"
    # Its own database: tests that clear the cache must not drop queued tasks.
    export CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:6379/10}
    export CELERY_RESULT_BACKEND=${CELERY_RESULT_BACKEND:-redis://127.0.0.1:6379/10}
  fi
fi
echo "test database: ${DATABASE_URL:-sqlite (embedded)}; redis: ${REDIS_URL:-none (on-disk shared cache)}"
exec "$PY" -m pytest "$@"
