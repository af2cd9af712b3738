# libtasker — the front door. `make demo` and `make test` work on a fresh Debian machine.
CARGO   ?= cargo
PREFIX  ?= /usr/local
# Cargo profile whose libtasker.so is staged, demoed and installed (release or debug).
PROFILE ?= release
SHELL   := bash
.SHELLFLAGS := -eo pipefail -c

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
CLIB    := target/clib/$(PROFILE)
CFLAGS_STRICT := -std=c11 -Wall -Wextra -Wpedantic -Werror -g
CARGO_PROFILE_FLAG := $(if $(filter release,$(PROFILE)),--release,)

## The C demo's link line after libtasker (whose flags come from the staged tasker.pc):
## empty, examples/c/order_fulfillment.c uses only libtasker (JSON text and accessors).
DEMO_C_LDLIBS =

# tasker.pc from tasker.pc.in: $(call write_pc,prefix,libdir,output); libdir may use $${prefix}.
write_pc = sed -e 's|@PREFIX@|$(1)|' -e 's|@LIBDIR@|$(2)|' -e 's|@VERSION@|$(VERSION)|' tasker.pc.in > $(3)

.PHONY: all setup setup-rust setup-c setup-python setup-ruby setup-go build lib cli header check-header \
        schema check-schema demo demo-rust demo-python demo-ruby demo-go test lint install clean fmt bench \
        fuzz chaos

all: build

## Checks and installs what the tests need: every language's part plus PostgreSQL, valgrind,
## cbindgen, rustfmt and clippy.
setup:
	@scripts/setup.sh test

## One language's part only (what its demo needs): rust, c, python, ruby or go.
setup-rust setup-c setup-python setup-ruby setup-go: setup-%:
	@scripts/setup.sh $*

build: setup-rust lib cli

## The `tasker` command-line tool (cli/): target/$(PROFILE)/tasker.
cli:
	$(CARGO) build -p tasker-cli $(CARGO_PROFILE_FLAG)

## libtasker.so (SONAME libtasker.so.$(VERSION)) staged in target/clib/$(PROFILE)/, with a
## pkgconfig/tasker.pc there for building against the checkout (PKG_CONFIG_PATH).
lib:
	$(CARGO) build --lib $(CARGO_PROFILE_FLAG)
	@mkdir -p $(CLIB)/pkgconfig
	@# A new file renamed over the old one: a process that has the old one loaded keeps it intact.
	@cp target/$(PROFILE)/libtasker.so $(CLIB)/.libtasker.so.new && mv -f $(CLIB)/.libtasker.so.new $(CLIB)/libtasker.so.$(VERSION)
	@ln -sf libtasker.so.$(VERSION) $(CLIB)/libtasker.so
	@$(call write_pc,$(CURDIR),$${prefix}/$(CLIB),$(CLIB)/pkgconfig/tasker.pc)

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
## Needs cargo, gcc, pkg-config and what the example links (`make setup-c` checks them).
demo: setup-c lib
	@gcc $(CFLAGS_STRICT) examples/c/order_fulfillment.c -o target/order_fulfillment_c \
	  $$(PKG_CONFIG_PATH=$(CLIB)/pkgconfig pkg-config --cflags --libs tasker) $(DEMO_C_LDLIBS)
	@target/order_fulfillment_c

## The same workflow from Rust.
demo-rust: setup-rust
	$(CARGO) run --quiet --example order_fulfillment

## The same workflow from each language wrapper; each needs only cargo, gcc and its language.
demo-python demo-ruby demo-go: demo-%: setup-% lib
	@TASKER_LIB_DIR=$(abspath $(CLIB)) wrappers/$*/demo.sh

## Everything: lints, header freshness, manifests, Rust tests (SQLite + PostgreSQL), C ABI tests
## under valgrind (SQLite) and on PostgreSQL, the wrappers' suites, apps in C, Python, Ruby and Go
## built outside the checkout against `make install`, and each demo with the other languages absent.
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
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Installs lib/libtasker.so*, include/tasker.h and lib/pkgconfig/tasker.pc under PREFIX (the
## release build unless PROFILE=debug). tasker.pc's Libs carry -Wl,-rpath,PREFIX/lib.
install: lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(CLIB)/libtasker.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libtasker.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libtasker.so
	install -m 0644 include/tasker.h $(DESTDIR)$(PREFIX)/include/
	$(call write_pc,$(PREFIX),$${prefix}/lib,$(DESTDIR)$(PREFIX)/lib/pkgconfig/tasker.pc)

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
