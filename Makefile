# make run   -> the app at http://127.0.0.1:8501
# make test  -> the whole test suite
# make lint  -> ruff on the whole tree (the configuration is in pyproject.toml)
# make docs  -> the docs site in site/ (mkdocs build --strict: a broken link or a missing API object fails)
# Each creates .venv (with $(PYTHON)) on first use and reinstalls only when requirements change.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ADDRESS ?= 127.0.0.1
PORT ?= 8501

.PHONY: run test lint docs bench data

run: $(STAMP)
	$(PY) -m streamlit run app/Home.py --server.address $(ADDRESS) --server.port $(PORT)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

bench: $(STAMP)
	@found=0; for script in benchmarks/*.py; do \
		[ -e "$$script" ] || continue; found=1; \
		echo "== $$script"; $(PY) "$$script" || exit 1; \
	done; [ $$found = 1 ] || echo "no benchmarks/*.py yet"

data: $(STAMP)
	$(VENV)/bin/cgn-art data build

$(PY):
	$(PYTHON) -m venv $(VENV)

# The stamp is newer than the files it installed from; editing either reinstalls.
$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -r requirements.txt
	touch $(STAMP)
