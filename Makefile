# synclab: `make run` and `make test` set everything up on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BASE   := $(VENV)/.synclab-base
STAMP  := $(VENV)/.synclab-installed
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: install run test bench clean

# The package and its dependencies: the install step `make run` and `make test` both use.
# It re-installs only when the project's dependencies change, so it is safe to repeat. pip
# writes bytecode for every package it installs but not for an editable install's sources:
# compileall writes synclab's (in a moment when nothing changed), so that a start does not
# compile them again where PYTHONDONTWRITEBYTECODE keeps Python from caching them.
install: $(BASE)
	@$(PY) -m compileall -q src >/dev/null

$(BASE): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	@touch $(BASE)

# What the tests need on top: pytest and every launcher extra (slurm, ray, joblib), so the
# launcher tests run against the real engines. Kept out of `make run`, which stays small.
$(STAMP): $(BASE)
	$(PIP) -e '.[test]'
	@touch $(STAMP)

run: install
	$(PY) run.py

test: install $(STAMP)
	$(PY) -m pytest

bench: install
	$(PY) bench/bench.py

clean:
	rm -rf $(VENV) .pytest_cache src/*.egg-info
