#!/usr/bin/env bash
# `make demo`: migrate the embedded SQLite database, seed the demo shop, train and precompute its first
# model, then run what production runs (platform/run-all.sh): web processes, a Celery worker and beat.
# No Redis needed: the broker is kombu's filesystem transport and the cache is shared on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.local}
VAR=${RECS_VAR_DIR:-var}
mkdir -p "$VAR"
$PY manage.py migrate --no-input -v 0
$PY manage.py collectstatic --no-input -v 0
$PY manage.py seed_demo --credentials-file "$VAR/demo-credentials.txt" \
  --users "${DEMO_USERS:-600}" --lines-per-category "${DEMO_LINES:-25}"
$PY manage.py train_tenant demo
exec bash platform/run-all.sh
