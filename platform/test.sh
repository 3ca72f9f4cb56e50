#!/usr/bin/env bash
# Run the whole suite. Uses PostgreSQL and Redis when reachable (starting them if installed), else
# SQLite, where the integration tests that need the real services skip with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
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
echo "test database: ${DATABASE_URL:-sqlite (embedded)}; redis: ${REDIS_URL:-none}"
exec "$PY" -m pytest "$@"
