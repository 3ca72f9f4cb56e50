# The two commands: `make demo` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast venv clean-demo bench-ingest bench-scale bench-shilling

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

clean-demo:
	rm -rf var/

# Growth curves; SIZES=1e4,1e5 TENANTS=20 for a shorter run (the 1e6 size takes long on 2 cores).
SIZES ?= 1e4,1e5,1e6
TENANTS ?= 100
bench-scale: venv
	bash platform/services.sh >/dev/null
	$(PY) bench/scale.py --sizes $(SIZES) --tenants $(TENANTS)

bench-shilling: venv
	$(PY) bench/faults/shilling.py
