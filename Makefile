# The two commands of the README: `make run` (the embedded default experiment, end to end)
# and `make test`. Both create the local environment (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
CORES ?= 8
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
# rules call `python -m lmar ...`: the venv's python must come first
export PATH := $(BIN):$(PATH)

.PHONY: setup run test bench lint clean zoo zoo-narrow zoo-fixed

setup: $(STAMP)

# ONE pip call for everything (snakemake and pyiqa's extras disagree on `packaging` otherwise);
# requirements.lock pins every transitive version.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --quiet -c requirements.lock -e '.[dev]'
	touch $@

# the HTML report of the default experiment (config.yaml's `experiment`), then the exit status:
# 3 when the tables left something out (listed in left_out.md), 0 when nothing was
run: $(STAMP)
	snakemake --cores $(CORES) all
	snakemake --report results/mini-default/report.html
	python -m lmar left-out results/mini-default/left_out.md

# the backbone zoo (lmar/zoo): the wide degradation's backbones (workflow/configs/wide_degradation.yaml) at seeds
# 0, 1 and 2, trained to a plateau (about 20 minutes a NAFNet and 47 to 50 a U-Net on 2 CPU cores), then copied
# into the package; resumable. `rm -rf results/zoo` first to retrain from scratch.
zoo: $(STAMP)
	snakemake --cores $(CORES) zoo --configfile workflow/configs/zoo.yaml
	cp results/zoo/zoo/*/*/seed*/*-seed* lmar/zoo/

# from workflow/configs/zoo_<name>.yaml: the default's backbones, its fixed degradation's (mini-fixed-*, about 1
# hour and 20 minutes a seed on 2 cores), or the narrow ranges' at seed 0 (mini-narrow-*, about 1 hour and 15 minutes)
zoo-narrow zoo-fixed: zoo-%: $(STAMP)
	snakemake --cores $(CORES) zoo --configfile workflow/configs/zoo_$*.yaml
	cp results/zoo-$*/zoo/*/*/seed*/*-seed* lmar/zoo/

# the suite in TEST_WORKERS processes (pytest-xdist; default one per logical CPU, at most 4), a worker that runs
# out of tests taking some of another's; TEST_WORKERS=0 runs it in this one process
TEST_WORKERS ?= logical
test: $(STAMP)
	python -m pytest -n $(TEST_WORKERS) --maxprocesses 4 --dist worksteal

bench: $(STAMP)
	snakemake --cores 1 bench
	python -m pytest tests/bench --benchmark-only --benchmark-group-by=group

lint: $(STAMP)
	snakemake --lint

clean:
	rm -rf results/*/ logs benchmarks .snakemake
