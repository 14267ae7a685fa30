#!/usr/bin/env bash
# Obtains Redis 7.0.15's own Tcl test suite, at run time, from Debian's `redis` source package,
# and installs the tools the suite needs (tcl, redis-tools) when they are missing.
#
# Nothing fetched here is committed: the unpacked source lives in compat/.cache/src/ (ignored by
# git). When no deb-src entry is configured, one is derived at run time from the machine's own apt
# sources (same URIs, suites and keys, Types: deb-src) and written as a sibling file in
# /etc/apt/sources.list.d/; no host name is ever written into this repository.
#
# Usage: compat/fetch-suite.sh          prints the path of the unpacked source tree on stdout
# Environment: COMPAT_CACHE (default compat/.cache beside this script)
#              REDIS_UPSTREAM_VERSION (default 7.0.15): the upstream version the suite must have
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${COMPAT_CACHE:-$here/.cache}"
upstream="${REDIS_UPSTREAM_VERSION:-7.0.15}"
src_root="$cache/src"
suite="$src_root/redis-$upstream"
deb_src_file=/etc/apt/sources.list.d/tessera-compat-deb-src.sources

say() { echo "fetch-suite: $*" >&2; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        say "need root (or sudo) to run: $*"
        return 1
    fi
}

apt_updated=0
apt_update() {
    if [ "$apt_updated" -eq 0 ]; then
        say "apt-get update"
        as_root apt-get update -qq >&2
        apt_updated=1
    fi
}

apt_install() {
    apt_update
    say "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >&2
}

have_tclsh() {
    # runtest looks for tclsh8.5, tclsh8.6 or tclsh8.7 by those exact names.
    command -v tclsh8.5 >/dev/null 2>&1 || command -v tclsh8.6 >/dev/null 2>&1 ||
        command -v tclsh8.7 >/dev/null 2>&1
}

# Writes deb-src stanzas mirroring every enabled deb stanza of the existing apt sources. The
# host names are read from those files at run time and only ever land in /etc/apt.
add_deb_src() {
    local tmp
    tmp="$(mktemp)"
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        [ "$f" = "$deb_src_file" ] && continue
        # deb822: stanzas separated by blank lines; keep the ones whose Types has `deb`
        # without `deb-src`, with Types rewritten. Enabled: no is respected.
        awk '
            function flush() {
                if (n > 0 && want && !disabled) {
                    for (i = 1; i <= n; i++) print lines[i]
                    print ""
                }
                n = 0; want = 0; disabled = 0
            }
            /^[ \t]*$/ { flush(); next }
            /^Types:/ {
                has_deb = 0; has_src = 0
                for (i = 2; i <= NF; i++) { if ($i == "deb") has_deb = 1; if ($i == "deb-src") has_src = 1 }
                want = has_deb && !has_src
                lines[++n] = "Types: deb-src"
                next
            }
            /^Enabled:[ \t]*no/ { disabled = 1 }
            { lines[++n] = $0 }
            END { flush() }
        ' "$f" >>"$tmp"
    done
    # One-line format (sources.list and *.list): each `deb ...` line gets a `deb-src ...` twin.
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] || continue
        sed -n 's/^[ \t]*deb[ \t]/deb-src /p' "$f" | while read -r line; do
            # Turn the one-line entry into a deb822 stanza so one output file serves both cases.
            set -- $line
            shift # deb-src
            local opts=""
            if [[ "$1" == \[* ]]; then
                opts="$1"
                while [[ "$1" != *\] ]]; do shift; opts="$opts $1"; done
                shift
            fi
            local uri="$1" suite_name="$2"
            shift 2
            {
                echo "Types: deb-src"
                echo "URIs: $uri"
                echo "Suites: $suite_name"
                echo "Components: $*"
                if [[ "$opts" == *signed-by=* ]]; then
                    local key="${opts#*signed-by=}"
                    echo "Signed-By: ${key%%[] ]*}"
                fi
                echo
            } >>"$tmp"
        done
    done
    if [ ! -s "$tmp" ]; then
        rm -f "$tmp"
        say "no deb entry found in /etc/apt to derive a deb-src entry from"
        return 1
    fi
    say "adding deb-src entries derived from the existing apt sources: $deb_src_file"
    as_root install -m 0644 "$tmp" "$deb_src_file"
    rm -f "$tmp"
    apt_updated=0
    apt_update
}

have_redis_source() {
    # Not `apt-cache ... | grep -q`: with pipefail, grep's early exit fails the pipeline.
    local out
    out="$(apt-cache showsrc redis 2>/dev/null || true)"
    grep -q '^Version:' <<<"$out"
}

# 1. Tools the harness runs.
have_tclsh || apt_install tcl
{ command -v redis-cli >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1; } ||
    apt_install redis-tools

# 2. The suite itself, once.
if [ -f "$suite/.complete" ]; then
    echo "$suite"
    exit 0
fi
command -v dpkg-source >/dev/null 2>&1 || apt_install dpkg-dev
if ! have_redis_source; then
    apt_update
    have_redis_source || add_deb_src
fi
have_redis_source || { say "apt still knows no source package named redis"; exit 1; }

mkdir -p "$src_root"
rm -rf "$suite"
# Prefer the Debian revision of the installed redis-server (the one `make compat
# SERVER=/usr/bin/redis-server` compares against); fall back to the newest one apt knows.
installed="$(dpkg-query -W -f='${Version}' redis-server 2>/dev/null || true)"
(
    cd "$src_root"
    # apt drops privileges to _apt for downloads; let it write here to avoid a warning.
    chmod 0755 "$src_root" 2>/dev/null || true
    if [ -n "$installed" ] && apt-get source -qq "redis=$installed" >&2; then
        :
    else
        say "source for redis=$installed not found, taking the newest redis source package"
        apt-get source -qq redis >&2
    fi
)
if [ ! -f "$suite/tests/test_helper.tcl" ]; then
    say "the source package did not unpack to $suite (wrong upstream version?):"
    ls "$src_root" >&2
    exit 1
fi
touch "$suite/.complete"
say "suite ready in $suite"
echo "$suite"
