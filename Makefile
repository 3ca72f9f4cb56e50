# The two commands: `make demo` and `make test`. Everything else supports them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast venv clean-demo bench-ingest bench-privacy bench-scale bench-shilling bench-sqlite bench-cache faults soak

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: venv
	bash platform/demo.sh

# TEST_ARGS passes pytest options through (.ci/run leaves out the demo-stack test it already ran).
test: venv
	bash platform/test.sh $(TEST_ARGS)

test-fast: venv
	bash platform/test.sh -m "not slow"

bench-ingest: venv
	bash platform/services.sh >/dev/null
	$(PY) bench/ingest.py

# Fault scenarios with real services (private Redis/PostgreSQL on free ports; the shared ones are never
# stopped). Each prints its checks and fails the target if one fails. See bench/faults/ and docs/reliability-and-benchmarks.md.
faults: venv
	bash platform/services.sh >/dev/null
	bash platform/test.sh tests/serving/test_degraded_services.py tests/serving/test_corrupt_artifact.py -q
	$(PY) bench/faults/redis_down.py
	$(PY) bench/faults/pg_restart.py
	$(PY) bench/faults/worker_kill.py

# Mixed traffic for SOAK_SECONDS (default 180) while a worker retrains: throughput, p50/p99, 5xx, lost events.
SOAK_SECONDS ?= 180
soak: venv
	bash platform/services.sh >/dev/null
	$(PY) bench/soak.py --seconds $(SOAK_SECONDS)

# The embedded demo under 4 writers x 50 batches x 500 events and 3 readers (no services needed).
bench-sqlite: venv
	nice -n 10 $(PY) bench/sqlite_writers.py

# GET recommendations with LocMem, the on-disk shared cache and (REDIS=url) Redis, in one process.
bench-cache: venv
	nice -n 10 $(PY) bench/shared_cache.py $(if $(REDIS),--redis $(REDIS))

bench-privacy: venv
	$(PY) bench/privacy.py

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
