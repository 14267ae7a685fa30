#!/usr/bin/env bash
# CI entry point for the Redis-suite compatibility gate; a thin wrapper around compat/runner.py.
#
#   compat/run.sh --ci            the CI gate: the units in compat/ci-units.txt against
#                                 target/release/tessera (shards 2); exit 1 naming every test of
#                                 compat/expected/ that no longer passes
#   compat/run.sh --check [...]   the same gate over the units that have an expected list
#   compat/run.sh [runner args]   anything else goes to compat/runner.py as is (see --help)
#
# It does not build the server: run `cargo build --release` first (CI does it anyway).
# Works from any directory; the suite is fetched into compat/.cache on first use.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
args=()
for arg in "$@"; do
    if [ "$arg" = "--ci" ]; then
        # The first four tests in ci-skip.txt race across shards (reasons at
        # the top of their expected lists); a lost race can leave a client
        # blocked until the harness's timeout. The two tracking tests need
        # EVAL (no scripting yet): failing half-way, they leave a client
        # tracking in RESP3, whose pushes then shift every later reply in
        # unit/tracking. The gate does not run them.
        args+=(--check --units-file "$here/ci-units.txt" --harness-args "--skipfile $here/ci-skip.txt")
    else
        args+=("$arg")
    fi
done
exec python3 "$here/runner.py" "${args[@]+"${args[@]}"}"
