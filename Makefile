# synclab: `make run` and `make test` set everything up on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.synclab-installed

.PHONY: install run test bench clean

install: $(STAMP)

# Re-install only when the project's dependencies change; `make install` is safe to repeat.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

run: install
	$(PY) run.py

test: install
	$(PY) -m pytest

bench: install
	$(PY) bench/bench.py

clean:
	rm -rf $(VENV) .pytest_cache src/*.egg-info
