# The two commands of the README: `make demo` and `make test`. Both set up the
# virtual environment first if it is missing or older than pyproject.toml.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format up kafka clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# A venv made before grafana-client was pinned below 4 holds urllib3-future in place
	# of urllib3; put the real one back.
	if $(PY) -m pip show --quiet urllib3-future 2>/dev/null; then \
	  $(PY) -m pip uninstall --quiet -y niquests urllib3-future && \
	  $(PY) -m pip install --quiet --force-reinstall --no-deps urllib3; fi
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/partnerpulse demo

up: $(STAMP)
	$(VENV)/bin/partnerpulse up

# Apache Kafka (the version the tests run) on a free loopback port until Ctrl-C; the
# jars are fetched once by Maven into ~/.cache/partnerpulse.
kafka: $(STAMP)
	$(PY) -m tests.apache_kafka

# Grafana's own dashboard types for the schema check (tests/reporting/test_grafana_schema.py).
SCHEMA_CHECK := tests/grafana_schema/node_modules/.package-lock.json
$(SCHEMA_CHECK): tests/grafana_schema/package-lock.json
	npm ci --prefix tests/grafana_schema --no-audit --no-fund --loglevel=error
	touch $(SCHEMA_CHECK)

test: $(STAMP) $(SCHEMA_CHECK) lint
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info tests/grafana_schema/node_modules
