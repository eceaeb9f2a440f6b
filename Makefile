# The two commands of the quick start: `make demo` and `make test`.
# Both create the virtual environment when it is missing.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: demo test lint unit integration notebooks lab bench down clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --python $(PY) --quiet -e '.[test]'
	# Compiled ahead: uv does not, and where PYTHONDONTWRITEBYTECODE is set every new process
	# (each Ray worker, each trial) would compile every module it imports from source.
	$(PY) -m compileall -q -j 0 $(VENV)/lib
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m mlops_lab.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check mlops_lab tests bench
	$(VENV)/bin/ruff format --check mlops_lab tests bench
	$(VENV)/bin/mypy mlops_lab

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP)
	$(PY) -m pytest tests/integration

test: lint $(STAMP)
	$(PY) -m pytest tests

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

bench: $(STAMP)
	$(PY) bench/store_ingest.py --quick
	$(PY) bench/tune_overhead.py --quick
	$(PY) bench/bandit_regret.py --quick
	$(PY) bench/serve_overhead.py --quick

down: $(STAMP)
	$(VENV)/bin/mlops-lab down

clean:
	rm -rf $(VENV) .mlops_lab .pytest_cache .ruff_cache
