# The two commands: `make demo` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast venv clean-demo bench-ingest bench-privacy

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: venv
	bash platform/demo.sh

test: venv
	bash platform/test.sh

test-fast: venv
	bash platform/test.sh -m "not slow"

bench-ingest: venv
	bash platform/services.sh >/dev/null
	$(PY) bench/ingest.py

bench-privacy: venv
	$(PY) bench/privacy.py

clean-demo:
	rm -rf var/
