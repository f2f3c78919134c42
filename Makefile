# lnsgd — the two commands of README: `make reproduce` and `make test`.
# Quiet: progress bars and one line per result; the LaTeX log goes to paper/build/latexmk.log and
# `lnsgd summary` closes `make reproduce` with what was computed, where it is, and missed targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RESULTS ?= results
FIGS   := paper/build/figures
LNSGD  := $(BIN)/lnsgd

.PHONY: setup tex test reproduce simulations claims check figures paper summary bench clean

# Create the virtual environment if missing and install the package with its test extras.
$(STAMP): pyproject.toml
	@echo "installing lnsgd into $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

# The TeX toolchain (Debian packages) for PGF figures and the report; fast when already there.
tex:
	@bash tools/ensure-tex.sh

test: setup tex
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

# The paper's synthetic experiments on defaults (the declared models on 4 noise paths); a stored
# result with the same config is reused.
simulations: setup
	@$(LNSGD) run two-phase --out $(RESULTS)
	@$(LNSGD) run lazy --out $(RESULTS)
	@$(LNSGD) run periodic --out $(RESULTS)
	@$(LNSGD) run oscillation --out $(RESULTS)
	@$(LNSGD) run oscillation-control --out $(RESULTS)
	@$(LNSGD) run sam --out $(RESULTS)
	@$(LNSGD) run real-digits --out $(RESULTS)
	@$(LNSGD) run diagonal-sparse --paths 4 --out $(RESULTS)
	@$(LNSGD) run diagonal-gd --out $(RESULTS)
	@$(LNSGD) run deep-linear --paths 4 --out $(RESULTS)
	@$(LNSGD) run deep-linear-lazy --out $(RESULTS)
	@$(LNSGD) sweep sweeps/small.yaml --out $(RESULTS)/sweeps/small --quiet

# The paper's claims over 5 seeds at paper size (stored in $(RESULTS)/claims, reused).
claims: setup
	@$(LNSGD) claims --size paper --seeds 5 --out $(RESULTS)/claims --table paper/build/claims_table.tex

# Theory against the mean of simulated noise paths (docs/check.md). make reproduce runs the
# configurations of the default grid whose horizon is at most CHECK_MAX_STEPS SGD steps (the paper
# config with both noise types, three 1-SAM points and USAM: 6 configurations, 77 s); the whole grid
# (`lnsgd check`, 21 configurations, up to 64M steps x 4 paths) takes about 7 minutes on two cores.
# A missed target is reported in the table and by `make summary`, and does not stop the report.
CHECK_MAX_STEPS ?= 1000000
# The declared models' regularized flows against their noise paths (experiments/declared/check.py).
check: setup
	-@$(LNSGD) check --max-steps $(CHECK_MAX_STEPS) --out $(RESULTS)/check --table paper/build/check_table.tex
	-@$(LNSGD) check diagonal-sparse --out $(RESULTS)/check --declared-table paper/build/declared_check_table.tex
	-@$(LNSGD) check deep-linear --paths 4 --out $(RESULTS)/check --declared-table paper/build/declared_check_table.tex

figures: setup tex
	@$(LNSGD) figures --results $(RESULTS) --out $(FIGS)

paper: setup tex
	@$(LNSGD) theory --latex paper/build/theory.tex
	-@$(LNSGD) figures --results $(RESULTS) --out $(FIGS) > paper/build/figures.log
	@cd paper && latexmk > build/latexmk.log 2>&1 || { tail -n 20 build/latexmk.log; \
	    echo "latexmk failed: paper/build/latexmk.log"; exit 1; }
	@echo "report: paper/build/main.pdf (LaTeX log: paper/build/latexmk.log)"

summary: setup
	@$(LNSGD) summary $(RESULTS) --build paper/build

reproduce: setup tex simulations claims check paper
	@$(MAKE) --no-print-directory summary

bench: setup
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_integrators.py
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_effective.py
	$(BIN)/python benchmarks/bench_declared.py

clean:  # build outputs and numba's on-disk caches (stale after edits to jitted modules)
	rm -rf paper/build .pytest_cache
	find . -path ./.venv -prune -o \( -name '*.nbi' -o -name '*.nbc' \) -exec rm -f {} +
