# Two commands: `make demo` and `make test`. Both install everything first (once).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_VERSION := 26.3

.PHONY: install demo test lint benchmarks constraints clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh "$(PYTHON)"
	test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "pip==$(PIP_VERSION)"
	$(BIN)/python -m pip install --disable-pip-version-check -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: install
	$(BIN)/python -m curata.demo $(DEMO_ARGS)

test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check curata tests benchmarks scripts

benchmarks: install
	for script in benchmarks/*.py; do $(BIN)/python $$script || exit 1; done

# Re-pin every package after changing dependencies in pyproject.toml.
constraints: install
	{ echo "# Exact pins for every package in the environment (pip install -c constraints.txt)."; \
	  echo "# Regenerate after changing dependencies: make constraints"; \
	  $(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^pip==' \
	    | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > constraints.txt

clean:
	rm -rf $(VENV) demo-project .pytest_cache
