# Two commands on a fresh machine:  `make lab` (set up, then start the lab) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: lab test setup bench validate student clean

$(BIN)/labkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

setup: $(BIN)/labkit  ## create .venv and install labkit with everything the lab needs

lab: setup            ## JupyterLab on notebooks/ at http://127.0.0.1:8888 (the twin if no cluster)
	$(BIN)/labkit lab

test: setup           ## the whole test suite: unit, twin, app, locust, notebooks, browser
	$(BIN)/python -m pytest

bench: setup          ## benchmarks (not tests): twin speed, verification time, app cost
	$(BIN)/labkit bench sim verify app

validate: setup
	$(BIN)/labkit validate manifests

student: setup
	$(BIN)/labkit student --out student

clean:
	rm -rf $(VENV) notebooks/_executed student artifacts
