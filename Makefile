# libtasker — the front door. `make demo` and `make test` work on a fresh Debian machine.
CARGO   ?= cargo
PREFIX  ?= /usr/local
# Cargo profile whose libtasker.so is staged, demoed and installed (debug or release).
PROFILE ?= debug
SHELL   := bash
.SHELLFLAGS := -eo pipefail -c

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
CLIB    := target/clib/$(PROFILE)
CFLAGS_STRICT := -std=c11 -Wall -Wextra -Wpedantic -Werror -g
CARGO_PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)

.PHONY: all setup build lib header check-header schema check-schema demo demo-rust demo-python demo-ruby demo-go test lint install clean fmt bench fuzz chaos

all: build

## Checks and installs what the build and tests need (Rust, PostgreSQL, cbindgen, msgpack-c, valgrind).
setup:
	@scripts/setup.sh

build: setup lib

## libtasker.so (SONAME libtasker.so.$(VERSION)) staged in target/clib/$(PROFILE)/.
lib:
	$(CARGO) build --lib $(CARGO_PROFILE_FLAG)
	@mkdir -p $(CLIB)
	@cp target/$(PROFILE)/libtasker.so $(CLIB)/libtasker.so.$(VERSION)
	@ln -sf libtasker.so.$(VERSION) $(CLIB)/libtasker.so

## Regenerates include/tasker.h with the pinned cbindgen.
header:
	cbindgen --quiet --config cbindgen.toml --output include/tasker.h .

## Fails when the checked-in header differs from what cbindgen generates.
check-header:
	@tmp=$$(mktemp); cbindgen --quiet --config cbindgen.toml --output $$tmp . ; \
	if ! cmp -s $$tmp include/tasker.h; then diff -u include/tasker.h $$tmp | head -40; rm -f $$tmp; \
	  echo "include/tasker.h is stale: run 'make header' and commit it" >&2; exit 1; fi; rm -f $$tmp; \
	echo "include/tasker.h is up to date"

## Regenerates docs/schema/documents.schema.json (the JSON Schema of every MessagePack document,
## from the serde types); `make test` fails when it is stale, like the header.
schema:
	TASKER_WRITE_SCHEMA=1 $(CARGO) test --quiet --test document_schema -- checked_in_schema_is_current

## Fails when the checked-in document schema differs from what the serde types generate.
check-schema:
	$(CARGO) test --quiet --test document_schema -- checked_in_schema_is_current

## The order-fulfillment workflow through the C ABI on the embedded SQLite default
## (tasker.db in the current directory; TASKER_DATABASE_URL=postgres://... for PostgreSQL).
demo: setup lib
	@gcc $(CFLAGS_STRICT) -Iinclude examples/c/order_fulfillment.c -o target/order_fulfillment_c \
	  -L$(CLIB) -ltasker -Wl,-rpath,$(abspath $(CLIB))
	@target/order_fulfillment_c

## The same workflow from Rust.
demo-rust: setup
	$(CARGO) run --quiet --example order_fulfillment

## The same workflow from each language wrapper.
demo-python demo-ruby demo-go: demo-%: setup lib
	@TASKER_LIB_DIR=$(abspath $(CLIB)) wrappers/$*/demo.sh

## Everything: lints, header freshness, Rust tests (SQLite + PostgreSQL), C ABI tests under
## valgrind (SQLite) and on PostgreSQL, and an install checked with pkg-config.
test: setup
	@scripts/test-all.sh

## libtasker against the database's own limits (pgbench -N, SQLite UPDATE rate), one table, and
## beside graphile-worker and River (needs node/npm and go; skipped rows otherwise), a second:
## release build, a throwaway PostgreSQL with fsync on, an SQLite file. See docs/PERFORMANCE.md.
bench: setup
	@scripts/bench.sh

## The fuzz test of the byte-taking C entry points (tests/it/fuzz.rs) for FUZZ_SECONDS
## (`make test` runs it for 10 s); FUZZ_SEED=<n> replays the round a failure printed.
FUZZ_SECONDS ?= 300
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test --test it -- fuzz:: --nocapture

## The chaos test (tests/it/chaos.rs): worker processes on a throwaway PostgreSQL, one SIGKILLed
## and replaced and the server restarted every ~1.2 s for CHAOS_SECONDS over CHAOS_TASKS tasks
## (`make test` runs 2 s over 200 tasks); then every step ran once or was explained by an
## expired lease, and every history is legal.
CHAOS_SECONDS ?= 60
CHAOS_TASKS ?= 3000
chaos:
	CHAOS_SECONDS=$(CHAOS_SECONDS) CHAOS_TASKS=$(CHAOS_TASKS) $(CARGO) test --test it -- chaos:: --nocapture

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## Installs lib/libtasker.so*, include/tasker.h and lib/pkgconfig/tasker.pc under PREFIX.
install: lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(CLIB)/libtasker.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libtasker.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libtasker.so
	install -m 0644 include/tasker.h $(DESTDIR)$(PREFIX)/include/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' tasker.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/tasker.pc

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
