#!/usr/bin/env bash
# Start a Celery worker. Usage: start-worker.sh [QUEUES] (default "default,training").
# GPU hosts consume "training"; CPU hosts "default" (precompute, embeddings) or both.
set -euo pipefail
cd "$(dirname "$0")/.."
QUEUES=${1:-${WORKER_QUEUES:-default,training}}
exec "${VENV:-.venv}/bin/celery" -A config worker \
  --queues "$QUEUES" \
  --hostname "${WORKER_NAME:-worker}@%h" \
  --concurrency "${WORKER_CONCURRENCY:-1}" \
  --loglevel "${WORKER_LOG_LEVEL:-INFO}" \
  --max-tasks-per-child "${WORKER_MAX_TASKS_PER_CHILD:-20}"
