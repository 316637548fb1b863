# Two commands for everyone: `make serve` and `make test`. Both build .venv from nothing
# but python3, make and gcc.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ESEAL_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
export ESEAL_TEST_DATABASE_URL

.PHONY: serve test bench compare install clean

$(STAMP): pyproject.toml setup.py gm/_sm2.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/eseal demo --home var/demo

test: $(STAMP)
	$(PY) -m pytest -q --benchmark-disable

bench: $(STAMP)
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-sort=name

compare: $(STAMP)
	$(PY) -m benchmarks.compare

clean:
	rm -rf $(VENV) build *.egg-info gm/*.so
