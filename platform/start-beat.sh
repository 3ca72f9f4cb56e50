#!/usr/bin/env bash
# Start Celery beat (retraining schedule, stale-run reaper). Run exactly one per deployment.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
exec "${VENV:-.venv}/bin/celery" -A config beat --loglevel "${BEAT_LOG_LEVEL:-INFO}" \
  --schedule "${BEAT_SCHEDULE_FILE:-var/celerybeat-schedule}"
