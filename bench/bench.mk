# bench/bench.mk: `make bench` and `make bench-quick`, Tessera against Redis 7.0 and Valkey 8.0
# on this machine (see bench/README.md). Included from the root Makefile with
# `-include bench/bench.mk`; paths are relative to the repository root. Not part of CI.
#
#   make bench-quick   SET/GET, per core, string memory: under 3 minutes
#   make bench         every workload, per core and whole machine, all memory figures, and
#                      durability (SET P1 under appendfsync always / everysec): < 30 min
#
# Variables: BENCH_ARGS (extra bench.py options, e.g. --servers redis,valkey), BENCH_NOTE (a
# sentence for the top of the report), BENCH_BUILD=0 (skip cargo build --release),
# TESSERA_ARGS (extra arguments for tessera).

BENCH_PYTHON ?= python3
BENCH_BUILD ?= 1
BENCH_ARGS ?=

.PHONY: bench bench-quick bench-setup bench-build

bench-setup:
	bash bench/setup.sh

# Tessera may not build yet: the report then marks it unavailable instead of failing.
bench-build:
	@if [ "$(BENCH_BUILD)" = "1" ]; then \
		cargo build --release || echo "bench: cargo build --release failed; tessera will be reported as unavailable"; \
	fi

bench: bench-setup bench-build
	$(BENCH_PYTHON) bench/bench.py --full $(BENCH_ARGS)

bench-quick: bench-setup bench-build
	$(BENCH_PYTHON) bench/bench.py --quick $(BENCH_ARGS)
