# The two-command contract: `make demo` and `make test` each create .venv and install
# everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench fuzz robustness clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/remit run examples/ms_ahsct_vs_dmt.toml --out results/demo --force --compare ms-mist-2019
	@echo "report: results/demo/report.html"

# Headless Chromium and its driver for the end-to-end browser test (tests/test_browser.py):
# Debian packages, installed once (sudo only when not root); skipped if already present.
CHROMIUM_STAMP := $(VENV)/.chromium
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
$(CHROMIUM_STAMP): | $(STAMP)
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
		echo "chromium and chromedriver present"; \
	else \
		$(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium chromium-driver; \
	fi
	touch $(CHROMIUM_STAMP)

test: $(STAMP) $(CHROMIUM_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

# Fuzz the scenario loader (atheris/libFuzzer) for FUZZ_SECONDS, starting from the examples;
# findings (crashing inputs) land in results/fuzz/. Not part of `make test`.
FUZZ_SECONDS ?= 120
fuzz: $(STAMP)
	$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/pip install atheris
	mkdir -p results/fuzz/corpus
	cp examples/*.toml results/fuzz/corpus/
	$(BIN)/python fuzz/fuzz_scenario.py results/fuzz/corpus -dict=fuzz/scenario.dict -max_total_time=$(FUZZ_SECONDS) \
		-timeout=10 -rss_limit_mb=4096 -max_len=65536 -artifact_prefix=results/fuzz/ -print_final_stats=1

# Wide-prior sweep: ROBUSTNESS_N patients per disease x therapy from the priors widened to
# their ranges' ends; reports failures by class (table + results/robustness.json).
ROBUSTNESS_N ?= 100000
robustness: $(STAMP)
	$(BIN)/python benchmarks/robustness.py --patients $(ROBUSTNESS_N) --out results/robustness.json

clean:
	rm -rf $(VENV) results .pytest_cache

# the million-patient scale test (issue 5): examples/ms_million.toml end to end, timed by phase;
# FRACTION=0.02 runs 2% of it and extrapolates
.PHONY: million
million: $(STAMP)
	$(BIN)/python benchmarks/million.py $(if $(FRACTION),--fraction $(FRACTION))
