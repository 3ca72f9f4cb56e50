#!/usr/bin/env bash
# Start the web process (gunicorn) on ${PORT:-8000}. Settings come from DJANGO_SETTINGS_MODULE.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${VENV:-.venv}/bin/gunicorn" -c platform/gunicorn.conf.py config.wsgi
