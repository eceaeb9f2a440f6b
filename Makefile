# The two commands of the quick start: `make demo` and `make test`.
# Both create the virtual environment when it is missing.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: demo test lint unit integration notebooks ui browser lab bench down clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --python $(PY) --quiet -e '.[test]'
	# jupyter-events asks for jsonschema's format checkers, and with them rfc3987-syntax,
	# which builds a parser as it is imported: 0.9 s in every process that imports Ray
	# (each Ray daemon, driver and worker start), where `import ray` alone takes 0.3 s.
	# Without it jsonschema leaves the "iri" formats unchecked; nothing here uses them.
	$(VENV)/bin/uv pip uninstall --python $(PY) --quiet rfc3987-syntax
	# Compiled ahead: uv does not, and where PYTHONDONTWRITEBYTECODE is set every new process
	# (each Ray worker, each trial) would compile every module it imports from source.
	$(PY) -m compileall -q -j 0 $(VENV)/lib
	touch $(STAMP)

# The kernel drift tests need PyTorch. A second environment holds it, so that no other test
# imports it: it sees the main environment's packages and adds torch 2.13.0, whose CPU build
# pip finds on this machine's disk (elsewhere pip would fetch a CUDA build of several GB).
TORCH_VENV  = .venv-torch
TORCH_STAMP = $(TORCH_VENV)/.installed

$(TORCH_STAMP): $(STAMP)
	test -x $(TORCH_VENV)/bin/python || $(PY) -m venv $(TORCH_VENV)
	$(TORCH_VENV)/bin/python -c "import glob, os, sysconfig; \
		main = os.path.abspath(glob.glob('$(VENV)/lib/python*/site-packages')[0]); \
		pth = os.path.join(sysconfig.get_path('purelib'), 'main-environment.pth'); \
		open(pth, 'w').write(f'import site; site.addsitedir({main!r})\\n')"
	$(TORCH_VENV)/bin/python -m pip install --quiet 'torch==2.13.0'
	touch $(TORCH_STAMP)

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

notebooks: $(STAMP)
	$(PY) -m pytest tests/notebooks

# The browser tier drives Debian's chromium: test tools cannot download a browser here.
CHROMIUM = /usr/bin/chromium

browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "The browser tests need Debian's chromium at $(CHROMIUM), and it is missing." >&2; \
		echo "Installing it needs root: run 'sudo apt-get install chromium', then make again." >&2; \
		exit 1; \
	fi
	@test -x $(CHROMIUM) || { echo "apt-get ran, yet $(CHROMIUM) is still missing." >&2; exit 1; }

ui: $(STAMP) browser
	$(PY) -m pytest tests/ui

test: lint $(STAMP) $(TORCH_STAMP) browser
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
	rm -rf $(VENV) $(TORCH_VENV) .mlops_lab .pytest_cache .ruff_cache
