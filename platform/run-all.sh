#!/usr/bin/env bash
# Run web (gunicorn, WEB_CONCURRENCY processes), one Celery worker (both queues) and beat on this host,
# as `make demo` does after seeding; stop all three on Ctrl-C or when one of them exits.
# Logs: $RECS_VAR_DIR/worker.log and beat.log (default var/); the web access log goes to the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VENV:-.venv}/bin/python
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.local}
export HOST=${HOST:-127.0.0.1} PORT=${PORT:-8000} WEB_CONCURRENCY=${WEB_CONCURRENCY:-3}
VAR=${RECS_VAR_DIR:-var}
export BEAT_SCHEDULE_FILE=${BEAT_SCHEDULE_FILE:-$VAR/celerybeat-schedule}
mkdir -p "$VAR"
pids=()
stop() {
  trap - EXIT INT TERM
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop EXIT INT TERM
bash platform/start-worker.sh default,training >"$VAR/worker.log" 2>&1 &
pids+=($!)
bash platform/start-beat.sh >"$VAR/beat.log" 2>&1 &
pids+=($!)
bash platform/start-web.sh &
pids+=($!)

URL="http://$HOST:$PORT"
# The banner only once the web processes answer, with the address they really listen on.
$PY - "$URL/health/live" <<'PY'
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(sys.argv[1], timeout=1)
        break
    except OSError:
        time.sleep(0.2)
PY
KEY=$(sed -n 's/^api key: //p' "$VAR/demo-credentials.txt" 2>/dev/null || true)
cat <<MSG

Serving on $URL  ($WEB_CONCURRENCY web processes, a Celery worker and beat; Ctrl-C stops them all)
  web UI:   $URL/          (log in with the login below)
  API docs: $URL/api/docs/ and $URL/api/redoc/
  staff:    $URL/admin/    (create a staff login with: manage.py createsuperuser)
$(sed 's/^/  /' "$VAR/demo-credentials.txt" 2>/dev/null || true)
Try:
  curl -H "X-Api-Key: ${KEY:-YOUR_KEY}" "$URL/api/v1/users/u00001/recommendations?k=5"
Logs: $VAR/worker.log, $VAR/beat.log. Error pages show no debug detail; DJANGO_DEBUG=true shows it.

MSG
wait -n "${pids[@]}"
