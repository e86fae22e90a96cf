# synclab: `make run` and `make test` set everything up on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BASE   := $(VENV)/.synclab-base
STAMP  := $(VENV)/.synclab-installed
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: install run test bench clean

# Everything: the package, the test tools and every launcher extra (slurm, ray, joblib).
install: $(STAMP)

# Re-install only when the project's dependencies change; `make install` is safe to repeat.
# `make run` needs the package alone, so a fresh clone that only runs stays small.
$(BASE): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	@touch $(BASE)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[test]'
	@touch $(BASE) $(STAMP)

run: $(BASE)
	$(PY) run.py

test: install
	$(PY) -m pytest

bench: install
	$(PY) bench/bench.py

clean:
	rm -rf $(VENV) .pytest_cache src/*.egg-info
