# compat/compat.mk: make targets that run Redis 7.0.15's own Tcl test suite (see compat/README.md).
# Included from the repository's root Makefile (`-include compat/compat.mk`); every path here is
# relative to the repository root, where make runs.
#
#   make compat                                  all unit files against target/release/tessera, shards 2
#   make compat SHARDS=4                         the same with `shards 4`
#   make compat UNITS="unit/type/incr unit/expire"   a subset
#   make compat SERVER=/usr/bin/redis-server     the same suite against Debian's Redis 7.0.15
#   make compat-check                            fails, naming them, when tests in compat/expected/ stop passing
#   make compat-expected                         records what passes today into compat/expected/
#   make compat-baseline                         re-measures Redis's own passes (compat/baseline/)
#   make compat-fetch                            only fetch the suite (and tcl, redis-tools)
#   make compat-clean                            remove compat/.cache and compat/logs
#   make compat-selftest                         the runner's own tests (no server needed)
#
# COMPAT_ARGS passes anything else to compat/runner.py, e.g. COMPAT_ARGS="--file-timeout 300".

COMPAT_PYTHON ?= python3
COMPAT_RUNNER := $(COMPAT_PYTHON) compat/runner.py
# Arguments every target shares; each is passed only when its variable is set.
COMPAT_COMMON = $(if $(SERVER),--server $(SERVER)) $(if $(SHARDS),--shards $(SHARDS)) \
	$(if $(UNITS),--units "$(UNITS)") $(COMPAT_ARGS)
# The tessera binary is built first unless another SERVER was named.
COMPAT_BUILD = $(if $(SERVER),,cargo build --release)

.PHONY: compat compat-check compat-expected compat-baseline compat-fetch compat-clean \
	compat-selftest

compat:
	$(COMPAT_BUILD)
	$(COMPAT_RUNNER) $(COMPAT_COMMON)

compat-check:
	$(COMPAT_BUILD)
	$(COMPAT_RUNNER) --check $(COMPAT_COMMON)

compat-expected:
	$(COMPAT_BUILD)
	$(COMPAT_RUNNER) --update-expected $(COMPAT_COMMON)

compat-baseline:
	$(COMPAT_RUNNER) --server /usr/bin/redis-server --write-baseline \
		$(if $(UNITS),--units "$(UNITS)") $(COMPAT_ARGS)

compat-fetch:
	compat/fetch-suite.sh

compat-clean:
	rm -rf compat/.cache compat/logs

compat-selftest:
	$(COMPAT_PYTHON) compat/test_runner.py
