# libtasker — the front door. `make demo` and `make test` work on a fresh machine.
CARGO ?= cargo
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
LOGS := target/test-logs

.PHONY: all setup build demo test test-rust lint fmt clean

all: build

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --release

## Runs the order-fulfillment workflow end to end on the embedded SQLite default
## (set TASKER_DATABASE_URL=postgres://... to use PostgreSQL).
demo: setup
	$(CARGO) run --quiet --example order_fulfillment

## Everything: formatting, lints, Rust unit and integration tests on SQLite and PostgreSQL.
test: setup lint test-rust
	@scripts/summarize.sh $(LOGS)/*.log

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test-rust:
	@mkdir -p $(LOGS) && rm -f $(LOGS)/*.log
	RUST_BACKTRACE=0 $(CARGO) test --lib --tests 2>&1 | tee $(LOGS)/rust.log

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
