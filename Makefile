# Tessera: build, run, test, check. `make compat` and `make bench` come from
# compat/compat.mk and bench/bench.mk.

CARGO ?= cargo
SHARDS ?=

.PHONY: build run test check fmt

build:
	$(CARGO) build --release

run: build
	./target/release/tessera $(if $(SHARDS),--shards $(SHARDS))

test:
	$(CARGO) test --workspace

check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

-include compat/compat.mk
-include bench/bench.mk
