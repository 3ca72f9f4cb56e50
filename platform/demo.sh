#!/usr/bin/env bash
# `make demo`: migrate the embedded database, seed the demo shop, train and precompute its first
# model, then serve on localhost:8000 with a real Celery worker (filesystem broker) in the background.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.local}
mkdir -p var
$PY manage.py migrate --no-input -v 0
$PY manage.py collectstatic --no-input -v 0
$PY manage.py seed_demo --credentials-file var/demo-credentials.txt
$PY manage.py train_tenant demo

bash platform/start-worker.sh default,training >var/worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM

cat <<MSG

The demo is ready. Serving on http://localhost:8000
  web UI:   http://localhost:8000/          (log in with the login below)
  API docs: http://localhost:8000/api/docs/
  staff:    http://localhost:8000/admin/    (create a staff login with: manage.py createsuperuser)
$(sed 's/^/  /' var/demo-credentials.txt)
Try:
  curl -H "X-Api-Key: $(sed -n 's/^api key: //p' var/demo-credentials.txt)" http://localhost:8000/api/v1/items
A Celery worker runs in the background (log: var/worker.log). Ctrl-C stops both.

MSG
bash platform/start-web.sh
