# Two commands on a fresh machine:  `make lab` (set up, then start the lab) and `make test`.
PYTHON ?= python3
PORT   ?= 8888
VENV   ?= .venv
BIN    := $(VENV)/bin
# bash with pipefail: pip's own exit status survives the progress filter below.
SHELL       := bash
.SHELLFLAGS := -o pipefail -c

.PHONY: lab lab-instructor test setup bench validate student clean

$(BIN)/labkit: pyproject.toml
	@echo "labkit: creating $(VENV) and installing labkit and JupyterLab (what the lab needs)"
	@echo "labkit: about 1 minute the first time; pip lists each package as it goes"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PYTHONUNBUFFERED=1 $(BIN)/python -m pip install --progress-bar off -e . \
		| { grep --line-buffered -E '^(Collecting|Successfully)' || true; }
	@$(BIN)/python -c "import labkit, jupyterlab" && echo "labkit: installed"
	@touch $@

# The test tools (pytest, Playwright for the browser test) only for `make test`.
$(VENV)/.test-extras: $(BIN)/labkit
	@echo "labkit: installing the test tools (pytest, playwright)"
	PYTHONUNBUFFERED=1 $(BIN)/python -m pip install --progress-bar off -e '.[test]' \
		| { grep --line-buffered -E '^(Collecting|Successfully)' || true; }
	@touch $@

setup: $(BIN)/labkit  ## create .venv and install labkit with everything the lab needs

lab: setup            ## JupyterLab on your copies in learner/ at 127.0.0.1:$(PORT) (make lab PORT=8889)
	$(BIN)/labkit lab --port $(PORT)

lab-instructor: setup ## JupyterLab on notebooks/ itself, solutions included
	$(BIN)/labkit lab --instructor --port $(PORT)

test: $(VENV)/.test-extras  ## the whole test suite: unit, twin, app, locust, notebooks, browser
	$(BIN)/python -m pytest

bench: setup          ## benchmarks (not tests): twin speed, verification time, app cost
	$(BIN)/labkit bench sim sweep verify app

validate: setup
	$(BIN)/labkit validate manifests

student: setup
	$(BIN)/labkit student --out student

clean:
	rm -rf $(VENV) notebooks/_executed student artifacts
