# The two commands: `make demo` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
export DJANGO_SETTINGS_MODULE ?= config.settings.local

.PHONY: demo test test-fast venv migrate seed serve clean-demo bench-ingest

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: venv
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo --credentials-file var/demo-credentials.txt
	@echo
	@echo "Serving on http://localhost:8000  (API docs: http://localhost:8000/api/docs/)"
	@cat var/demo-credentials.txt
	@echo 'Try: curl -H "X-Api-Key: <api key>" http://localhost:8000/api/v1/items'
	bash platform/start-web.sh

test: venv
	bash platform/test.sh

test-fast: venv
	bash platform/test.sh -m "not slow"

bench-ingest: venv
	bash platform/services.sh >/dev/null
	$(PY) bench/ingest.py

clean-demo:
	rm -rf var/
