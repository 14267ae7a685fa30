#!/usr/bin/env bash
# Installs what `make bench` needs on a Debian bookworm machine: Redis 7.0 (redis-server,
# redis-tools: redis-benchmark, redis-cli), Valkey 8.0 from bookworm-backports, util-linux's
# taskset, and matplotlib for the chart. Idempotent; safe to run every time.
# The backports source is derived at run time from the machine's own apt sources (the URI of
# the main Debian archive entry), so no host name is written into the repository.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

have() { command -v "$1" >/dev/null 2>&1; }

need_update=1
apt_update() {
  if [ "$need_update" -eq 1 ]; then
    $SUDO apt-get update -qq
    need_update=0
  fi
}

# Add bookworm-backports using the same archive URI as the existing "bookworm" entry.
add_backports() {
  if grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
    return 0
  fi
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # deb822: take the URIs line of the stanza whose Suites include plain "bookworm".
    uri=$(awk '
      /^[[:space:]]*$/ { if (s ~ /(^| )bookworm( |$)/ && u != "") { print u; exit } s=""; u=""; next }
      /^URIs:/   { u=$2 }
      /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); s=" " $0 " " }
      END { if (s ~ /(^| )bookworm( |$)/ && u != "") print u }
    ' /etc/apt/sources.list.d/debian.sources | head -n1)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list)
  fi
  if [ -z "$uri" ]; then
    echo "setup.sh: cannot find the bookworm archive URI in the apt sources" >&2
    return 1
  fi
  echo "setup.sh: adding bookworm-backports from the machine's own Debian archive entry"
  $SUDO tee /etc/apt/sources.list.d/tessera-bench-backports.sources >/dev/null <<SRC
Types: deb
URIs: ${uri}
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
}

pkgs=()
have redis-server || pkgs+=(redis-server)
have redis-benchmark || pkgs+=(redis-tools)
have taskset || pkgs+=(util-linux)
have python3 || pkgs+=(python3)
if [ ${#pkgs[@]} -gt 0 ]; then
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}"
fi

if ! have valkey-server; then
  add_backports
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports valkey-server
fi
# valkey-benchmark ships in valkey-tools; it is optional (redis-benchmark is the default client),
# but its --threads mode is used when it exists.
if ! have valkey-benchmark; then
  add_backports
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports valkey-tools \
    || echo "setup.sh: valkey-tools not available; continuing with redis-benchmark only" >&2
fi

# The packaged services would take port 6379; the bench starts its own servers on free ports.
for svc in redis-server valkey-server; do
  if have systemctl && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
  fi
done

# matplotlib for the chart: pip for the python3 on PATH if it has pip, else Debian's package.
if ! python3 -c 'import matplotlib' >/dev/null 2>&1; then
  if python3 -m pip --version >/dev/null 2>&1; then
    python3 -m pip install -q matplotlib 2>/dev/null \
      || python3 -m pip install -q --break-system-packages matplotlib || true
  fi
  if ! python3 -c 'import matplotlib' >/dev/null 2>&1; then
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-matplotlib || true
  fi
  python3 -c 'import matplotlib' >/dev/null 2>&1 \
    || echo "setup.sh: matplotlib not installed; the report will have no chart" >&2
fi

redis-server --version
valkey-server --version || true
