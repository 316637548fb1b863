# Two commands for everyone: `make serve` and `make test`. Both build .venv from nothing
# but python3, make and gcc.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ESEAL_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
export ESEAL_TEST_DATABASE_URL

SYSDEPS := $(VENV)/.sysdeps-stamp

.PHONY: serve test bench compare install clean sysdeps fuzz soak audit-deps pip-audit

$(STAMP): pyproject.toml setup.py gm/_sm2.c
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Tools the tests use as referees or renderers (qpdf, a CJK font, chromium for the console): installed from Debian's
# packages when missing and we may (root), otherwise the tests that need them say so.
$(SYSDEPS): Makefile
	@mkdir -p $(VENV)
	@missing=""; \
	command -v qpdf >/dev/null 2>&1 || missing="$$missing qpdf"; \
	fc-list :lang=zh 2>/dev/null | grep -q . || missing="$$missing fonts-wqy-microhei"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing$$missing"; \
	    (apt-get install -y -q $$missing >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $$missing >/dev/null 2>&1)) || echo "could not install$$missing"; \
	  else echo "missing system packages:$$missing (install them with apt-get)"; fi; \
	fi
	@touch $(SYSDEPS)

sysdeps: $(SYSDEPS)

install: $(STAMP) $(SYSDEPS)

serve: $(STAMP) $(SYSDEPS)
	$(VENV)/bin/eseal serve --demo --home var/demo --port 8080

test: $(STAMP) $(SYSDEPS) audit-deps
	$(PY) -m pytest -q --benchmark-disable

bench: $(STAMP)
	$(PY) -m pytest benchmarks --benchmark-only --benchmark-sort=name

# The fuzz targets of the test suite with many more examples (bounded to a few hundred in
# `make test`); FUZZ_EXAMPLES per target.
FUZZ_EXAMPLES ?= 100000
fuzz: $(STAMP)
	ESEAL_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider tests -k fuzz

# 10 minutes of steady sealing, verifying and OCSP against `eseal serve --workers 2` on SQLite:
# server memory and latency every 5 s to docs/soak.csv and docs/soak.png; fails on any error or
# a memory slope after warm-up above 1 MB/min (tests/soak/soak.py). Niced: it loads the machine.
SOAK_SECONDS ?= 600
soak: $(STAMP)
	nice -n 10 $(PY) -m tests.soak.soak --seconds $(SOAK_SECONDS) --out docs/soak

# Known vulnerabilities in every installed distribution, from PyPI's advisory data (the data
# pip-audit reads; tests/deps/audit.py says why not pip-audit itself here). Fails on a known
# vulnerability; what PyPI could not answer for is listed (AUDIT_FLAGS=--strict fails on it).
# An advisory that does not apply: --ignore-vuln ID in AUDIT_FLAGS, with the reason beside it.
AUDIT_FLAGS ?=
audit-deps: $(STAMP)
	$(PY) -m tests.deps.audit $(AUDIT_FLAGS)

# pip-audit itself, where PyPI's per-version JSON API or OSV is reachable (not from here).
pip-audit: $(STAMP)
	$(VENV)/bin/pip-audit --strict --local --progress-spinner off

compare: $(STAMP)
	$(PY) -m benchmarks.compare

clean:
	rm -rf $(VENV) build *.egg-info gm/*.so
