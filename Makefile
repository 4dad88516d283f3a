# Two commands matter: `make run` (the service with demo data) and `make test`.
# Both create and use .venv by themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= mailward-data

.PHONY: run test check lint typecheck imports pytest bench fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mailward serve --demo --data $(DATA)

check: lint typecheck imports

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest

test: check pytest

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/core_bench.py
	@if command -v smtp-source >/dev/null; then \
		$(BIN)/python bench/smtp_ingest.py && $(BIN)/python bench/smtp_ingest.py --workers 2 --no-peer; \
	else echo "smtp_ingest skipped: smtp-source not found (apt-get install postfix)"; fi
	@if command -v wrk >/dev/null; then \
		$(BIN)/python bench/web_bench.py --workers 2 --chart docs/web-inbox-latency.png; \
	else echo "web_bench skipped: wrk not found (apt-get install wrk)"; fi
	$(BIN)/python bench/page_cost.py
	$(BIN)/python bench/killswitch_bench.py
	$(BIN)/python bench/imap_bench.py --serve --runs 3
	$(BIN)/python bench/imap_bench.py --serve --runs 3 --workers 2 --phases concurrent
	$(BIN)/mailward drill all

fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests -k "fuzz or isolation"

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
