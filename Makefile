# Two commands do all the set-up on a fresh machine (Python 3.11+, pip; apt for the browser):
#   make lab   - the lessons in JupyterLab (practice vessels when no Ollama / no keys)
#   make test  - the whole test suite (unit, practice servers, kernel, nbval, browser)
#   make bench - the comparison with raw httpx and the peers (BENCH_ARGS=--quick for a short run;
#                BENCH_ARGS="--only long,runs" for some sections alone)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lab test lessons venv demo bench lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[lab,test]"
	touch $(STAMP)

venv: $(STAMP)

# Widget state saved with notebooks (panels reopen without a kernel), and no news pop-up:
# the same settings override Binder installs, in this project's own environment.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/vessel_nb.json
$(LAB_OVERRIDES): binder/overrides.json
	mkdir -p $(dir $@)
	cp binder/overrides.json $@

lab: $(STAMP) $(LAB_OVERRIDES)
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

demo: $(STAMP)
	$(BIN)/python -m vessel_nb.demo

test: $(STAMP)
	sh .ci/install-chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lessons: $(STAMP)
	$(BIN)/python -m pytest tests/test_notebooks.py -k nbval

bench: $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check vessel_nb tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache test-artifacts
