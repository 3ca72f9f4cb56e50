#!/usr/bin/env bash
# Start a Celery worker. Usage: start-worker.sh [QUEUES]; QUEUES defaults to $WORKER_QUEUES, else both:
#   training          the GPU queue: training runs (CUDA with mixed precision when present)
#   default           the CPU queue: precompute shards, item embeddings, schedules, clean-ups
#   default,training  both, for a single host
# Aliases: gpu = training, cpu = default, all = default,training. See docs/operations.md.
set -euo pipefail
cd "$(dirname "$0")/.."
QUEUES=${1:-${WORKER_QUEUES:-default,training}}
case "$QUEUES" in
  gpu) QUEUES=training ;;
  cpu) QUEUES=default ;;
  all) QUEUES=default,training ;;
esac
if [[ ",$QUEUES," == *",training,"* ]]; then
  # One training at a time per worker: a run uses the whole GPU (or every core).
  CONCURRENCY=${WORKER_CONCURRENCY:-1}
else
  # Shards are independent: one process per core, each with one torch thread.
  CONCURRENCY=${WORKER_CONCURRENCY:-$(nproc)}
fi
if [ "$CONCURRENCY" -gt 1 ]; then export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}; fi
# Gossip and mingle only add broker chatter here: tasks never depend on other workers' state.
exec "${VENV:-.venv}/bin/celery" -A config worker \
  --queues "$QUEUES" \
  --hostname "${WORKER_NAME:-${QUEUES//,/-}}@%h" \
  --concurrency "$CONCURRENCY" \
  --loglevel "${WORKER_LOG_LEVEL:-INFO}" \
  --max-tasks-per-child "${WORKER_MAX_TASKS_PER_CHILD:-20}" \
  --without-gossip --without-mingle
