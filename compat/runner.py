#!/usr/bin/env python3
"""Runs Redis 7.0.15's own Tcl test suite against a server binary and reports per-file results.

This file holds the whole runner behind `make compat`, `make compat-check` and `compat/run.sh`:

1. The suite: Debian's `redis` source package, unpacked by compat/fetch-suite.sh into
   compat/.cache/src/redis-7.0.15 (never committed).
2. The harness tree: a copy of the suite's `runtest` and `tests/` in compat/.cache/trees/<run>/,
   where `src/redis-server` is the server under test itself (a copy of target/release/tessera,
   so a concurrent rebuild cannot change it mid-run; a symlink for a binary outside the repo) and `src/redis-cli`, `src/redis-benchmark`, `src/redis-check-aof`, ... link to the
   redis-tools binaries in /usr/bin. For tessera, `shards N` is appended to the harness's base
   configs (tests/assets/default.conf and minimal.conf); nothing else in them is changed.
3. The run: every unit file (tests/unit/*.tcl and tests/unit/type/*.tcl, except helpers that the
   harness sources itself) runs alone as `./runtest --single unit/x --clients 1 --durable ...`
   under `timeout`, with a port range of its own so overlapping runs never collide.
4. The report: `[ok]`, `[err]`, `[exception]`, `[skip]`, `[ignore]` lines (up to "The End") are
   counted per file; "missing" is what Redis passes in the committed baseline
   (compat/baseline/redis-7.0.15.tsv) and this run never reached, e.g. tests behind a failed setup.
   A markdown table goes to the run's log folder (compat/logs/<run>/, ignored by git) and, for full
   runs, to compat/results/<label>.md (committed).
5. The gate (--check): every test named in compat/expected/<unit>.txt must still pass, otherwise
   the failing names are printed and the exit status is 1. --update-expected rewrites those lists
   from the run; --write-baseline rewrites the baseline (run it against /usr/bin/redis-server).

Python 3 standard library only. See compat/README.md for the make targets.
"""

import argparse
import collections
import datetime
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time

COMPAT_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(COMPAT_DIR)
DEFAULT_SERVER = os.path.join(REPO_ROOT, "target", "release", "tessera")
DEFAULT_BASELINE = os.path.join(COMPAT_DIR, "baseline", "redis-7.0.15.tsv")
DEFAULT_EXPECTED_DIR = os.path.join(COMPAT_DIR, "expected")
RESULTS_DIR = os.path.join(COMPAT_DIR, "results")
CACHE_DIR = os.environ.get("COMPAT_CACHE", os.path.join(COMPAT_DIR, ".cache"))
LOGS_DIR = os.path.join(COMPAT_DIR, "logs")
CI_UNITS_FILE = os.path.join(COMPAT_DIR, "ci-units.txt")

# Tools the harness calls as src/<name>; linked from redis-tools when present.
TOOLS = ["redis-cli", "redis-benchmark", "redis-check-aof", "redis-check-rdb", "redis-sentinel"]
# Base configs that start_server reads; each gets the `shards` directive for tessera.
BASE_CONFIGS = ["default.conf", "minimal.conf"]

# Port plan: an invocation locks one of PORT_SLOTS slots of ports; inside it, each unit file gets
# the next of PORT_WINDOWS windows: 32 ports for the harness's test server (it takes them just
# below --baseport), then PORT_COUNT ports for the servers it spawns. A fresh harness process
# starts at --baseport, so rotating windows (the slot's lock file remembers where the last run
# stopped) keeps a unit from landing on ports that earlier servers left in TIME_WAIT. The
# harness also probes port+10000; everything stays below the kernel's ephemeral range.
PORT_BASE = 21000
PORT_COUNT = 48
WINDOW_PORTS = 32 + PORT_COUNT
PORT_WINDOWS = 36
SLOT_PORTS = WINDOW_PORTS * PORT_WINDOWS
PORT_SLOTS = 4

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RE_OK = re.compile(r"^\[ok\]: (.*) \((\d+) ms\)$")
RE_ERR_TEST = re.compile(r"^\[err\]: (.*) in (tests/\S+\.tcl)$")
RE_IGNORE_REASON = re.compile(
    r"^(?:(.*): )?(Tag: .*|Not supported .*|large memory flag not provided)$")


class UnitResult:
    """What one unit file's run produced, parsed from the harness output."""

    def __init__(self, unit):
        self.unit = unit
        self.passed = []      # test names, in order (a name may repeat)
        self.failed = []      # (name, the error's first line)
        self.skipped = []     # [skip] test names
        self.ignored = []     # [ignore] test names (empty name: a whole block was ignored)
        self.errors = []      # errors outside any named test: failed setup, exception, timeout
        self.reached_end = False
        self.exit_code = None
        self.timed_out = False
        self.seconds = 0.0
        self.missing = 0
        self.baseline_passed = None

    def seen(self):
        """Multiset of every test name the run reported in any state."""
        names = collections.Counter(self.passed)
        names.update(n for n, _ in self.failed)
        names.update(self.skipped)
        names.update(n for n in self.ignored if n)
        return names

    def note(self):
        notes = []
        if self.timed_out:
            notes.append("timeout")
        elif not self.reached_end:
            notes.append("no end (exit %s)" % self.exit_code)
        if self.errors:
            first = self.errors[0].splitlines()[0] if self.errors[0] else ""
            notes.append(first[:70])
        return "; ".join(notes)


def parse_output(unit, text):
    """Parses runtest's output for one unit, stopping at "The End" (its summary repeats errs)."""
    result = UnitResult(unit)
    current = None  # the [err]/[exception] entry whose detail lines follow
    for raw in text.splitlines():
        line = ANSI.sub("", raw).rstrip("\r")
        if line.strip() == "The End":
            result.reached_end = True
            break
        if line.startswith("[ok]: "):
            current = None
            m = RE_OK.match(line)
            result.passed.append(m.group(1) if m else line[len("[ok]: "):])
        elif line.startswith("[err]: "):
            m = RE_ERR_TEST.match(line)
            if m:
                current = [m.group(1), "", ""]
                result.failed.append(current)
            else:
                # An error outside a named test: the harness reports it with --durable.
                result.errors.append(line[len("[err]: "):])
                current = None
        elif line.startswith("[exception]: "):
            result.errors.append("exception: " + line[len("[exception]: "):])
            current = None
        elif line.startswith("[TIMEOUT]"):
            result.errors.append("harness timeout: no progress")
            current = None
        elif line.startswith("[skip]: "):
            current = None
            result.skipped.append(line[len("[skip]: "):])
        elif line.startswith("[ignore]: "):
            current = None
            m = RE_IGNORE_REASON.match(line[len("[ignore]: "):])
            result.ignored.append((m.group(1) or "") if m else line[len("[ignore]: "):])
        elif current is not None and not current[2] and line.strip():
            # Keep two detail lines: for an error that is not an assertion the harness cuts the
            # first 10 characters off the first one, and the second one is the whole message.
            current[2 if current[1] else 1] = line.strip()
        elif line.startswith("[") and "done]: " in line:
            current = None
    result.failed = [(name, second if second.endswith(first) and first else first)
                     for name, first, second in result.failed]
    return result


# --- the suite and the harness tree ---------------------------------------------------------

def fetch_suite():
    """Runs compat/fetch-suite.sh (installs tcl/redis-tools if missing) and returns the suite."""
    out = subprocess.run([os.path.join(COMPAT_DIR, "fetch-suite.sh")], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    return out.strip().splitlines()[-1]


def all_units(suite):
    """Unit files to run: tests/unit/*.tcl and tests/unit/type/*.tcl that the harness lists in
    its ::all_tests (files it does not list, like type/list-common, are helpers it sources)."""
    with open(os.path.join(suite, "tests", "test_helper.tcl")) as f:
        helper = f.read()
    listed = set(re.findall(r"^\s+(unit/[\w/-]+)\s*$", helper, re.M))
    units = []
    for sub in ["unit", os.path.join("unit", "type")]:
        folder = os.path.join(suite, "tests", sub)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".tcl"):
                unit = sub + "/" + name[:-len(".tcl")]
                if unit in listed:
                    units.append(unit)
    return units


def is_real_redis(server):
    """Debian's redis-server is run without the tessera-only `shards` directive."""
    return os.path.basename(server).startswith("redis-server")


def server_version(server):
    try:
        out = subprocess.run([server, "--version"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=5,
                             universal_newlines=True).stdout.strip()
        return out.splitlines()[0] if out else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def lay_out_tree(suite, tree, server, shards):
    """Builds the harness tree: runtest + tests/ copied, src/ holding the server and links to the
    redis-tools binaries."""
    if os.path.exists(tree):
        shutil.rmtree(tree)
    os.makedirs(os.path.join(tree, "src"))
    shutil.copy2(os.path.join(suite, "runtest"), os.path.join(tree, "runtest"))
    shutil.copytree(os.path.join(suite, "tests"), os.path.join(tree, "tests"), symlinks=True)
    if server.startswith(REPO_ROOT + os.sep):
        # A build in this work tree may be replaced by a concurrent `cargo build` during the run:
        # a copy of the binary keeps every unit file on the same one.
        shutil.copy2(server, os.path.join(tree, "src", "redis-server"))
    else:
        os.symlink(server, os.path.join(tree, "src", "redis-server"))
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            os.symlink(found, os.path.join(tree, "src", tool))
    if shards is not None:
        for conf in BASE_CONFIGS:
            path = os.path.join(tree, "tests", "assets", conf)
            if os.path.exists(path):
                with open(path, "a") as f:
                    f.write("\n# Added by compat/runner.py: tessera's shard count.\nshards %d\n"
                            % shards)
    os.makedirs(os.path.join(tree, "tests", "tmp"), exist_ok=True)


def take_port_slot():
    """Locks one port slot for this invocation so concurrent runs use disjoint port ranges.
    Returns the lock's file descriptor, the slot's first port and the window to start at."""
    lock_dir = os.path.join(CACHE_DIR, "ports")
    os.makedirs(lock_dir, exist_ok=True)
    start = os.getpid() % PORT_SLOTS
    for i in range(PORT_SLOTS):
        slot = (start + i) % PORT_SLOTS
        fd = os.open(os.path.join(lock_dir, "slot-%02d.lock" % slot), os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        saved = os.read(fd, 32).decode(errors="replace").strip()
        window = int(saved) % PORT_WINDOWS if saved.isdigit() else 0
        return fd, PORT_BASE + slot * SLOT_PORTS, window
    sys.exit("compat: every port slot is taken by another run")


def release_port_slot(fd, next_window):
    """Remembers the next window for the slot's next run, then unlocks it."""
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, b"%d\n" % (next_window % PORT_WINDOWS))
    os.close(fd)


# --- running ----------------------------------------------------------------------------------

def unit_baseport(slot_base, index):
    """The --baseport of the index-th unit file of a run whose port slot starts at slot_base."""
    return slot_base + (index % PORT_WINDOWS) * WINDOW_PORTS + 32


def run_unit(tree, unit, baseport, args, log_path):
    """Runs one unit file in the tree, writes its output to log_path and returns the result."""
    cmd = ["timeout", "-k", "15", str(args.file_timeout), "./runtest",
           "--single", unit, "--clients", "1", "--durable", "--dont-clean",
           "--timeout", str(args.harness_timeout),
           "--baseport", str(baseport), "--portcount", str(PORT_COUNT)]
    cmd += args.harness_args.split()
    env = dict(os.environ)
    env.pop("TERM", None)  # no colours in the output
    started = time.monotonic()
    with open(log_path, "w") as log:
        log.write("$ (cd %s && %s)\n" % (tree, " ".join(cmd)))
        log.flush()
        proc = subprocess.Popen(cmd, cwd=tree, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        code = proc.wait()
    # Whatever the harness left behind (servers, test clients) is in that process group.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    with open(log_path, errors="replace") as f:
        text = f.read()
    result = parse_output(unit, text)
    result.exit_code = code
    result.timed_out = code in (124, 137)
    result.seconds = time.monotonic() - started
    return result


def collect_server_logs(tree, dest, keep):
    """Moves the spawned servers' stdout/stderr (last MiB of each) out of tests/tmp, then
    empties tests/tmp for the next unit."""
    tmp = os.path.join(tree, "tests", "tmp")
    if keep:
        for entry in sorted(os.listdir(tmp)):
            for stream in ("stdout", "stderr"):
                src = os.path.join(tmp, entry, stream)
                if os.path.isfile(src) and os.path.getsize(src) > 0:
                    os.makedirs(dest, exist_ok=True)
                    with open(src, "rb") as f:
                        size = os.path.getsize(src)
                        f.seek(max(0, size - (1 << 20)))
                        data = f.read()
                    with open(os.path.join(dest, "%s.%s" % (entry, stream)), "wb") as f:
                        f.write(data)
    for entry in os.listdir(tmp):
        path = os.path.join(tmp, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


# --- baseline, expected lists, results ----------------------------------------------------------

def escape(name):
    return name.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def unescape(field):
    out, i = [], 0
    while i < len(field):
        c = field[i]
        if c == "\\" and i + 1 < len(field):
            out.append({"t": "\t", "n": "\n"}.get(field[i + 1], field[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def read_baseline(path):
    """Returns {unit: Counter of test names Redis passed}."""
    passed = collections.defaultdict(collections.Counter)
    if not os.path.exists(path):
        return passed
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 3 and fields[1] == "ok":
                passed[fields[0]][unescape(fields[2])] += 1
    return passed


def write_baseline(path, results, header):
    """Rewrites the baseline rows of the units in results; rows of other units are kept."""
    kept = []
    ran = {r.unit for r in results}
    if os.path.exists(path):
        with open(path) as f:
            kept = [l for l in f if not l.startswith("#") and l.strip()
                    and l.split("\t", 1)[0] not in ran]
    rows = []
    for r in results:
        rows += ["%s\tok\t%s\n" % (r.unit, escape(n)) for n in r.passed]
        rows += ["%s\terr\t%s\n" % (r.unit, escape(n)) for n, _ in r.failed]
        rows += ["%s\tskip\t%s\n" % (r.unit, escape(n)) for n in r.skipped]
        rows += ["%s\tignore\t%s\n" % (r.unit, escape(n)) for n in r.ignored if n]
    order = {}
    for line in kept + rows:
        order.setdefault(line.split("\t", 1)[0], []).append(line)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(header)
        f.write("# unit\tresult\ttest name (tab, newline and backslash escaped)\n")
        for unit in sorted(order):
            f.writelines(order[unit])


def expected_path(expected_dir, unit):
    return os.path.join(expected_dir, unit + ".txt")


def read_expected(expected_dir, unit):
    path = expected_path(expected_dir, unit)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return collections.Counter(unescape(l.rstrip("\n")) for l in f
                                   if l.strip() and not l.startswith("#"))


def write_expected(expected_dir, result, header):
    path = expected_path(expected_dir, result.unit)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(header)
        for name in sorted(result.passed):
            f.write(escape(name) + "\n")


def check_expected(results, expected_dir):
    """Returns (regressions, new_passes): {unit: [names]} of expected tests that did not pass,
    and a count of passing tests the lists do not name yet."""
    regressions, new_passes = {}, 0
    for r in results:
        expected = read_expected(expected_dir, r.unit)
        passed = collections.Counter(r.passed)
        if expected is None:
            new_passes += len(r.passed)
            continue
        lost = expected - passed
        if lost:
            regressions[r.unit] = sorted(lost.elements())
        new_passes += sum((passed - expected).values())
    return regressions, new_passes


def git_commit(path=REPO_ROOT):
    """HEAD of the git work tree holding path, with -dirty when tracked files are modified."""
    try:
        head = subprocess.run(["git", "-C", path, "rev-parse", "--short=12", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    dirty = subprocess.run(["git", "-C", path, "status", "--porcelain", "--untracked-files=no"],
                           stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    return head + ("-dirty" if dirty else "")


def server_commit(server):
    """The commit a server binary was built from, as far as can be told: the HEAD of the work
    tree whose target/ holds it (read when the run starts), else this repository's HEAD."""
    folder = os.path.dirname(server)
    while folder != os.path.dirname(folder):
        if os.path.basename(folder) == "target":
            return git_commit(os.path.dirname(folder))
        folder = os.path.dirname(folder)
    return git_commit()


def table_rows(results):
    rows = []
    total = collections.Counter()
    for r in results:
        row = {"unit": r.unit, "passed": len(r.passed), "failed": len(r.failed),
               "skipped": len(r.skipped) + len(r.ignored), "missing": r.missing,
               "errors": len(r.errors),
               "redis": "" if r.baseline_passed is None else r.baseline_passed,
               "time": "%.0f" % r.seconds, "note": r.note()}
        rows.append(row)
        for k in ("passed", "failed", "skipped", "missing", "errors"):
            total[k] += row[k]
        total["redis"] += r.baseline_passed or 0
        total["time"] += r.seconds
    totals = {"unit": "TOTAL", "passed": total["passed"], "failed": total["failed"],
              "skipped": total["skipped"], "missing": total["missing"],
              "errors": total["errors"], "redis": total["redis"],
              "time": "%.0f" % total["time"], "note": ""}
    return rows, totals


COLUMNS = [("unit", "unit"), ("passed", "passed"), ("failed", "failed"), ("skipped", "skipped"),
           ("missing", "missing"), ("errors", "errors"), ("redis", "redis passes"),
           ("time", "time s"), ("note", "note")]


def print_table(results, out=sys.stdout):
    rows, totals = table_rows(results)
    widths = {k: max(len(h), *(len(str(r[k])) for r in rows + [totals])) for k, h in COLUMNS}
    widths["note"] = min(widths["note"], 60)

    def fmt(r):
        cells = []
        for k, _ in COLUMNS:
            v = str(r[k])[:widths[k]]
            cells.append(v.ljust(widths[k]) if k in ("unit", "note") else v.rjust(widths[k]))
        return "  ".join(cells).rstrip()

    print(fmt({k: h for k, h in COLUMNS}), file=out)
    print("  ".join("-" * widths[k] for k, _ in COLUMNS), file=out)
    for r in rows:
        print(fmt(r), file=out)
    print(fmt(totals), file=out)


def markdown(results, meta):
    rows, totals = table_rows(results)
    lines = ["# Redis 7.0.15 Tcl suite against %s" % meta["label"], ""]
    for key in ("date", "commit", "server", "server version", "binary built", "shards", "suite",
                "units", "command", "wall time"):
        lines.append("- %s: %s" % (key, meta[key]))
    lines += ["", "Columns: passed, failed (named tests that failed), skipped ([skip] and "
              "[ignore]: tags the run excludes), missing (tests Redis passes in "
              "compat/baseline/redis-7.0.15.tsv that this run never reached), errors (errors "
              "outside a named test: server that did not start, exception, timeout), "
              "redis passes (the baseline's count).", ""]
    lines.append("| " + " | ".join(h for _, h in COLUMNS) + " |")
    lines.append("|" + "|".join("---" if k in ("unit", "note") else "---:" for k, _ in COLUMNS)
                 + "|")
    for r in rows + [dict(totals, unit="**TOTAL**")]:
        lines.append("| " + " | ".join(str(r[k]).replace("|", "\\|") for k, _ in COLUMNS) + " |")
    lines.append("")
    return "\n".join(lines)


def write_details(path, results):
    """Every test's outcome for this run, one per line: unit, result, name, reason."""
    with open(path, "w") as f:
        for r in results:
            for n in r.passed:
                f.write("%s\tok\t%s\t\n" % (r.unit, escape(n)))
            for n, why in r.failed:
                f.write("%s\terr\t%s\t%s\n" % (r.unit, escape(n), escape(why)))
            for n in r.skipped:
                f.write("%s\tskip\t%s\t\n" % (r.unit, escape(n)))
            for n in r.ignored:
                f.write("%s\tignore\t%s\t\n" % (r.unit, escape(n)))
            for e in r.errors:
                f.write("%s\terror\t\t%s\n" % (r.unit, escape(e.splitlines()[0] if e else "")))


# --- main -------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", default=os.environ.get("SERVER") or DEFAULT_SERVER,
                   help="server binary under test (default: target/release/tessera)")
    p.add_argument("--shards", default=None,
                   help="`shards N` added to the harness configs; 'none' to omit (default: 2, "
                        "none for a binary named redis-server)")
    p.add_argument("--units", default="",
                   help="space-separated units to run, e.g. 'unit/type/incr unit/expire' "
                        "(default: all)")
    p.add_argument("--units-file", help="file listing units to run, one per line (# comments)")
    p.add_argument("--suite", help="unpacked Redis source tree (default: fetch it)")
    p.add_argument("--file-timeout", type=int, default=900,
                   help="seconds one unit file may take before it is killed (default 900)")
    p.add_argument("--harness-timeout", type=int, default=300,
                   help="the harness's own --timeout: seconds without progress (default 300)")
    p.add_argument("--harness-args", default="",
                   help="extra runtest arguments, e.g. '--tags -needs:repl'")
    p.add_argument("--baseline", default=DEFAULT_BASELINE)
    p.add_argument("--write-baseline", action="store_true",
                   help="rewrite the baseline's rows for the units run (use with Redis)")
    p.add_argument("--expected-dir", default=DEFAULT_EXPECTED_DIR)
    p.add_argument("--check", action="store_true",
                   help="exit 1, naming them, when tests listed in the expected dir fail; "
                        "without units, runs the units that have a list (or compat/ci-units.txt)")
    p.add_argument("--check-retries", type=int, choices=(0, 1), default=1,
                   help="with --check, run a unit file with failing expected tests once more and "
                        "count only tests that fail both times (default 1; 0: no second run)")
    p.add_argument("--update-expected", action="store_true",
                   help="rewrite the expected lists of the units run from this run's passes")
    p.add_argument("--results", default=None,
                   help="also write the markdown table here (default: compat/results/<label>.md "
                        "for a full run, nowhere else for a subset)")
    p.add_argument("--no-results", action="store_true", help="write no compat/results file")
    p.add_argument("--no-server-logs", action="store_true",
                   help="do not keep the spawned servers' logs in the run's log folder")
    p.add_argument("--keep-tree", action="store_true", help="keep the harness tree afterwards")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    server = os.path.abspath(args.server)
    if not (os.path.isfile(server) and os.access(server, os.X_OK)):
        hint = " (build it: cargo build --release)" if server == DEFAULT_SERVER else ""
        print("compat: server binary %s does not exist or is not executable%s" % (server, hint),
              file=sys.stderr)
        return 2
    if args.shards is None:
        shards = None if is_real_redis(server) else 2
    elif args.shards.lower() in ("none", "", "0"):
        shards = None
    else:
        shards = int(args.shards)

    suite = os.path.abspath(args.suite) if args.suite else fetch_suite()
    units_all = all_units(suite)
    wanted = args.units.split()
    if args.units_file:
        wanted += read_units_file(args.units_file)
    if args.check and not wanted:
        # The gate runs the units it has lists for; with none yet, the CI subset.
        wanted = [u for u in units_all if read_expected(args.expected_dir, u) is not None]
        if not wanted:
            wanted = read_units_file(CI_UNITS_FILE)
    full_run = not wanted
    if wanted:
        wanted = [u[len("tests/"):] if u.startswith("tests/") else u for u in wanted]
        wanted = [u[:-len(".tcl")] if u.endswith(".tcl") else u for u in wanted]
        unknown = [u for u in wanted if u not in units_all]
        if unknown:
            print("compat: unknown units: %s" % " ".join(unknown), file=sys.stderr)
            return 2
        units = [u for u in dict.fromkeys(wanted)]
    else:
        units = units_all

    version = server_version(server)
    commit_at_start = server_commit(server)
    built = datetime.datetime.fromtimestamp(os.path.getmtime(server), datetime.timezone.utc)
    if is_real_redis(server):
        m = re.search(r"v=([\d.]+)", version)
        label = "redis-" + (m.group(1) if m else "unknown")
    else:
        label = os.path.basename(server) + ("-shards%d" % shards if shards else "")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_id = "%s-%s-%d" % (stamp, label, os.getpid())
    log_dir = os.path.join(LOGS_DIR, run_id)
    tree = os.path.join(CACHE_DIR, "trees", run_id)
    os.makedirs(log_dir)
    slot_fd, slot_base, first_window = take_port_slot()
    lay_out_tree(suite, tree, server, shards)
    baseline = read_baseline(args.baseline)

    print("compat: %d unit files against %s (%s), shards %s" %
          (len(units), server, version, shards if shards else "not set"))
    print("compat: harness tree %s, ports %d-%d, logs %s"
          % (tree, slot_base, slot_base + SLOT_PORTS - 1, log_dir))
    sys.stdout.flush()
    started = time.monotonic()
    results = []
    for i, unit in enumerate(units, 1):
        log_path = os.path.join(log_dir, unit.replace("/", "_") + ".log")
        r = run_unit(tree, unit, unit_baseport(slot_base, first_window + i), args, log_path)
        collect_server_logs(tree, os.path.join(log_dir, unit.replace("/", "_") + ".servers"),
                            not args.no_server_logs)
        compare_to_baseline(r, baseline)
        results.append(r)
        print("[%2d/%d] %-28s passed %4d  failed %3d  skipped %3d  missing %4s  errors %d  %4.0fs %s"
              % (i, len(units), unit, len(r.passed), len(r.failed),
                 len(r.skipped) + len(r.ignored), r.missing if r.baseline_passed is not None
                 else "-", len(r.errors), r.seconds, r.note()))
        sys.stdout.flush()
    # The gate gives a unit file with expected tests that failed one more run; a test counts as
    # regressed only when it fails in both (a flaky start of the server shows as a warning).
    retried = {}
    if args.check and args.check_retries:
        first_regressions, _ = check_expected(results, args.expected_dir)
        for k, unit in enumerate(sorted(first_regressions), 1):
            print("compat-check: %d expected test(s) of %s failed; running it once more"
                  % (len(first_regressions[unit]), unit))
            log_path = os.path.join(log_dir, unit.replace("/", "_") + ".retry.log")
            r = run_unit(tree, unit, unit_baseport(slot_base, first_window + len(units) + k),
                         args, log_path)
            collect_server_logs(tree, os.path.join(log_dir, unit.replace("/", "_") +
                                                   ".retry.servers"), not args.no_server_logs)
            retried[unit] = r
    wall = time.monotonic() - started
    release_port_slot(slot_fd, first_window + len(units) + len(retried))
    if not args.keep_tree:
        shutil.rmtree(tree, ignore_errors=True)

    header_meta = (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   commit_at_start)
    if args.write_baseline:
        write_baseline(args.baseline, results, "# Produced by compat/runner.py on %s, commit %s, "
                       "server %s (%s).\n" % (header_meta + (server, version)))
        print("compat: baseline rows for %d units written to %s"
              % (len(results), os.path.relpath(args.baseline)))
        baseline = read_baseline(args.baseline)
        for r in results:
            compare_to_baseline(r, baseline)

    print()
    print_table(results)
    meta = {
        "label": label,
        "date": header_meta[0],
        "commit": header_meta[1],
        "server": os.path.relpath(server, REPO_ROOT) if server.startswith(REPO_ROOT) else server,
        "server version": version,
        "binary built": built.strftime("%Y-%m-%d %H:%M UTC"),
        "shards": shards if shards else "not set (server default)",
        "suite": "Redis %s tests from Debian's source package %s" % (
            os.path.basename(suite).replace("redis-", ""), suite_debian_version(suite)),
        "units": "all %d unit files" % len(units) if full_run else " ".join(units),
        "command": "runtest --single <unit> --clients 1 --durable --timeout %d, under timeout %d"
                   % (args.harness_timeout, args.file_timeout)
                   + (" " + args.harness_args if args.harness_args else ""),
        "wall time": "%.0f s" % wall,
    }
    text = markdown(results, meta)
    with open(os.path.join(log_dir, "results.md"), "w") as f:
        f.write(text)
    write_details(os.path.join(log_dir, "tests.tsv"), results)
    results_path = args.results or (os.path.join(RESULTS_DIR, label + ".md") if full_run else None)
    if results_path and not args.no_results:
        os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
        with open(results_path, "w") as f:
            f.write(text)
        print("compat: results table written to %s" % os.path.relpath(results_path))
    print("compat: wall time %.0f s; logs in %s" % (wall, os.path.relpath(log_dir)))

    header = "# Produced by compat/runner.py on %s, commit %s, server %s (%s), shards %s.\n" % (
        meta["date"], meta["commit"], meta["server"], version, meta["shards"])
    if args.update_expected:
        for r in results:
            write_expected(args.expected_dir, r, header.replace(
                "# Produced", "# Tests that pass today; `make compat-check` fails when one stops "
                "passing.\n# Produced"))
        print("compat: expected lists of %d units written to %s"
              % (len(results), os.path.relpath(args.expected_dir)))
    if args.check:
        regressions, new_passes = check_expected(results, args.expected_dir)
        flaky = {}
        for unit, r in retried.items():
            again, _ = check_expected([r], args.expected_dir)
            both = collections.Counter(regressions[unit]) & collections.Counter(again.get(unit, []))
            passed_on_retry = collections.Counter(regressions[unit]) - both
            if passed_on_retry:
                flaky[unit] = sorted(passed_on_retry.elements())
            if both:
                regressions[unit] = sorted(both.elements())
            else:
                del regressions[unit]
        if flaky:
            print("\ncompat-check: WARNING: %d expected test(s) failed, then passed when their "
                  "file ran again (flaky):" % sum(len(v) for v in flaky.values()))
            for unit in sorted(flaky):
                for name in flaky[unit]:
                    print("  %s: %s" % (unit, name))
        if regressions:
            count = sum(len(v) for v in regressions.values())
            print("\ncompat-check: FAILED: %d expected test(s) no longer pass:" % count)
            for unit in sorted(regressions):
                for name in regressions[unit]:
                    print("  %s: %s" % (unit, name))
            print("(logs: %s)" % os.path.relpath(log_dir))
            return 1
        checked = sum(1 for r in results if read_expected(args.expected_dir, r.unit) is not None)
        print("\ncompat-check: OK: every expected test passes (%d unit files with an expected "
              "list, %d more passing tests not listed yet)" % (checked, new_passes))
    return 0


def read_units_file(path):
    """Units listed one per line; `#` starts a comment."""
    with open(path) as f:
        return [l.split("#", 1)[0].strip() for l in f if l.split("#", 1)[0].strip()]


def compare_to_baseline(result, baseline):
    """Sets what Redis passes in this unit and how many of those tests this run never reached."""
    if result.unit in baseline:
        result.baseline_passed = sum(baseline[result.unit].values())
        result.missing = sum((baseline[result.unit] - result.seen()).values())


def suite_debian_version(suite):
    """The Debian version of the unpacked source package, from its debian/changelog."""
    try:
        with open(os.path.join(suite, "debian", "changelog")) as f:
            m = re.match(r"\S+ \(([^)]+)\)", f.readline())
            return m.group(1) if m else "?"
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
