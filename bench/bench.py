#!/usr/bin/env python3
"""Tessera benchmark harness: Tessera against Redis 7.0 and Valkey 8.0 on one machine.

What it measures, per server and workload:
  * requests per second (median of N alternating runs, servers in turn A B C A B C ...),
  * server CPU time per request (CPU time of the server process over the run, from
    /proc/<pid>/task/*/schedstat checked against user + system in /proc/<pid>/stat, divided
    by the requests the client completed),
  * p50 and p99 latency as printed by `redis-benchmark --csv`,
  * memory per key after loading 1M string keys with 16-byte values, and per element of a
    1M-element hash, set and sorted set (server RSS minus its RSS when empty, divided by items),
  * durability (--durability, on in --full): SET at pipeline 1 with 50 clients and 3-byte
    values, per-core pinning, for tessera and Redis with `appendonly yes` and `appendfsync
    always` / `everysec`, and tessera without persistence; each server in a fresh, empty
    `--dir` under the work directory (same disk for all), deleted afterwards.

Two configurations ("modes"):
  * per-core: every server pinned to CPU 0 with taskset, the load generator pinned to CPU 1;
    tessera runs with `--shards 1`, Redis and Valkey single-threaded;
  * whole-machine: nothing pinned; tessera with its default shard count, Redis and Valkey with
    `io-threads 2` (and io-threads-do-reads); the load is two redis-benchmark processes started
    together (half the CPUs' worth, 50 clients in all), not one `--threads` process, whose
    250 ms end-of-run timer quantises the elapsed time.

Only one server runs at a time: the others are paused with SIGSTOP, so an idle server that
polls cannot steal CPU from the one being measured. A workload whose command the server answers
with an error (checked once before the runs, and again by redis-benchmark, which exits on the
first error reply) is reported as "error/unsupported", never as a number.

Every server started here listens on a free port of 127.0.0.1 and is stopped on exit, on error
and on Ctrl-C (and gets SIGKILL from the kernel if this process dies: PR_SET_PDEATHSIG).
The raw per-run rows go to <out>/<date>.csv, the report to <out>/<date>.md, and a chart to
<out>/<date>.png (bench/chart.py, needs matplotlib).

Usage: python3 bench/bench.py --quick | --full [options]   (see --help; `make bench-quick`).
"""

import argparse
import csv
import ctypes
import datetime
import io
import math
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"  # the only address this harness ever talks to
KEYSPACE = 1_000_000
CLIENTS = 50
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Workloads: redis-benchmark test name (-t), label, whether the value size (-d) matters, and a
# command that must succeed before the workload is run (the same command family and key the
# benchmark uses, so an unsupported command shows up as an error reply here first).
WORKLOADS = [
    ("set", "SET", True, ["SET", "key:precheck", "xxx"]),
    ("get", "GET", True, ["GET", "key:precheck"]),
    ("incr", "INCR", False, ["INCR", "counter:precheck"]),
    ("lpush", "LPUSH", True, ["LPUSH", "mylist", "xxx"]),
    ("lpop", "LPOP", True, ["LPOP", "mylist"]),
    ("sadd", "SADD", False, ["SADD", "myset", "element:precheck"]),
    ("hset", "HSET", True, ["HSET", "myhash", "element:precheck", "xxx"]),
    ("zadd", "ZADD", False, ["ZADD", "myzset", "0", "element:precheck"]),
    ("mset", "MSET (10 keys)", True,
     ["MSET"] + [x for i in range(10) for x in ("key:precheck%d" % i, "xxx")]),
]
WORKLOAD_BY_TEST = {w[0]: w for w in WORKLOADS}

# Memory structures: name, loader and the command that counts the items afterwards.
MEMORY_ITEMS = 1_000_000
MEMORY_VALUE = b"v" * 16
MEMORY_STRUCTURES = ["string", "hash", "set", "zset"]

# Durability section: SET at pipeline 1, 50 clients, 3-byte values (the per-core SET P1 row)
# under each persistence configuration: id -> (label, arguments). Every configuration also
# gets `--save ''`, so that no RDB snapshot (Redis's default `save 3600 1 300 100 60 10000`
# fires within a minute) runs in the middle of a measurement.
DURABILITY_CONFIGS = {
    "always": ("appendonly yes, appendfsync always",
               ["--appendonly", "yes", "--appendfsync", "always"]),
    "everysec": ("appendonly yes, appendfsync everysec",
                 ["--appendonly", "yes", "--appendfsync", "everysec"]),
    "none": ("no persistence", ["--appendonly", "no"]),
}
# The servers of the section in turn order (server, configuration). Redis without persistence
# is the per-core SET P1 row already; Redis everysec is there for reference only.
DURABILITY_PLAN = [("tessera", "always"), ("redis", "always"), ("tessera", "everysec"),
                   ("redis", "everysec"), ("tessera", "none")]
DURABILITY_WORKLOAD, DURABILITY_VALUE, DURABILITY_PIPELINE = "set", 3, 1

# Targets from issue 4, then the durability targets: (id, description, comparison, goal).
TARGETS = [
    ("core_p1_rps", "per core, requests/s at pipeline 1, tessera / Redis", ">=", 1.3),
    ("core_p16_rps", "per core, requests/s at pipeline 16, tessera / Redis", ">=", 1.6),
    ("core_p1_cpu", "per core, CPU per request at pipeline 1, tessera / Redis", "<=", 0.75),
    ("core_p16_cpu", "per core, CPU per request at pipeline 16, tessera / Redis", "<=", 0.6),
    ("mem_string", "memory per string key, tessera / Redis", "<=", 0.6),
    ("mem_collection", "memory per collection element (hash, set, zset), tessera / Redis", "<=", 1.0),
    ("machine_rps", "whole machine, requests/s, tessera / Valkey 8.0 io-threads 2", ">=", 1.3),
    ("dur_always_rps", "SET P1 50 clients, appendfsync always: tessera / Redis", ">=", 2.0),
    ("dur_everysec_rps", "SET P1 50 clients, tessera appendfsync everysec / no persistence",
     ">=", 0.9),
]

SERVER_LABELS = {"tessera": "tessera", "redis": "Redis", "valkey": "Valkey"}


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# ----------------------------------------------------------------------------------------------
# A minimal RESP2 client (stdlib only), for pre-checks, INFO, DBSIZE and the pipelined loader.

class ReplyError(Exception):
    """An error reply (-ERR ...) from the server."""


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Client:
    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb", buffering=1 << 16)

    def close(self):
        try:
            self.rfile.close()
            self.sock.close()
        except OSError:
            pass

    def read_reply(self):
        """Read one reply; error replies are returned as ReplyError instances, not raised."""
        line = self.rfile.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed by server")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode(errors="replace")
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rfile.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read_reply() for _ in range(n)]
        raise ConnectionError("unexpected reply type %r" % line[:40])

    def call(self, *args):
        self.sock.sendall(encode(args))
        reply = self.read_reply()
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    def pipeline(self, payload, count):
        """Send pre-encoded commands and read `count` replies; returns (errors, first_error)."""
        self.sock.sendall(payload)
        errors, first = 0, None
        for _ in range(count):
            r = self.read_reply()
            if isinstance(r, ReplyError):
                errors += 1
                if first is None:
                    first = str(r)
        return errors, first


def parse_info(text):
    info = {}
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    for line in (text or "").splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            info[k.strip()] = v.strip()
    return info


def free_port():
    """A TCP port nobody listens on now (the kernel's choice, never 6379)."""
    while True:
        s = socket.socket()
        s.bind((HOST, 0))
        port = s.getsockname()[1]
        s.close()
        if port != 6379:
            return port


# ----------------------------------------------------------------------------------------------
# Process bookkeeping: every server is tracked and stopped on any exit path.

_libc = None


def _die_with_parent():
    """preexec_fn: ask the kernel to SIGKILL the child if this harness dies."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


LIVE_SERVERS = []


def stop_all_servers():
    for s in list(LIVE_SERVERS):
        s.stop()


def proc_cpu_seconds(pid):
    """User + system CPU of the whole process (all threads), from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_sched_seconds(pid):
    """Time on CPU of all live threads, from /proc/<pid>/task/*/schedstat (ns resolution)."""
    total = 0
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/schedstat" % (base, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def proc_rss_bytes(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * PAGE_SIZE


def machine_busy_seconds():
    """Busy CPU seconds of the whole machine so far (all CPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return (sum(vals[:8]) - idle) / CLK_TCK


class Server:
    """One server process (redis-server, valkey-server or tessera) on a free local port."""

    def __init__(self, kind, argv_base, version, workdir, cpu=None, extra=()):
        self.kind = kind
        self.label = SERVER_LABELS[kind]
        self.argv_base = list(argv_base)
        self.version = version
        self.workdir = workdir
        self.cpu = cpu
        self.extra = list(extra)
        self.proc = None
        self.port = None
        self.logpath = None
        self.paused = False
        self.error = None
        # Persistence arguments; only the durability section replaces the default.
        self.persistence = ["--save", "", "--appendonly", "no"]

    def command_line(self):
        argv = list(self.argv_base) + ["--port", str(self.port)]
        if self.kind in ("redis", "valkey"):
            argv += (["--bind", HOST] + self.persistence +
                     ["--protected-mode", "no", "--dir", self.workdir, "--daemonize", "no"])
        else:
            argv += self.persistence
        argv += self.extra
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu)] + argv
        return argv

    def start(self, ready_timeout=20.0):
        os.makedirs(self.workdir, exist_ok=True)
        self.port = free_port()
        self.logpath = os.path.join(self.workdir, "server-%d.log" % self.port)
        logf = open(self.logpath, "wb")
        argv = self.command_line()
        self.argv = argv
        self.proc = subprocess.Popen(argv, cwd=self.workdir, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        logf.close()
        LIVE_SERVERS.append(self)
        deadline = time.time() + ready_timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.error = "exited with status %s at startup: %s" % (self.proc.returncode,
                                                                       self.log_tail())
                self.stop()
                return False
            try:
                c = Client(self.port, timeout=2.0)
                try:
                    if c.call("PING") == "PONG":
                        return True
                finally:
                    c.close()
            except (OSError, ConnectionError, ReplyError) as e:
                last = e
            time.sleep(0.1)
        self.error = "did not answer PING within %.0fs (%s): %s" % (ready_timeout, last,
                                                                   self.log_tail())
        self.stop()
        return False

    def log_tail(self, n=5):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode(errors="replace").strip().splitlines()
            return " | ".join(l[:160] for l in lines[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pause(self):
        if self.alive() and not self.paused:
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.paused = True

    def resume(self):
        if self.alive() and self.paused:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.paused = False
            time.sleep(0.05)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
                self.proc.terminate()
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            except ProcessLookupError:
                pass
        self.paused = False
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)

    def cpu_seconds(self):
        return proc_cpu_seconds(self.proc.pid)

    def sched_seconds(self):
        try:
            return proc_sched_seconds(self.proc.pid)
        except OSError:
            return None

    def rss(self):
        return proc_rss_bytes(self.proc.pid)

    def client(self):
        return Client(self.port)

    def info(self, section=None):
        """INFO as a dict, or {} if the server does not answer it."""
        try:
            c = self.client()
            try:
                return parse_info(c.call("INFO", section) if section else c.call("INFO"))
            finally:
                c.close()
        except (ReplyError, OSError, ConnectionError):
            return {}


# ----------------------------------------------------------------------------------------------
# Loading data for GET and for the memory figures.

def load_strings(server, count, value, prefix=b"key:", batch=2000):
    """SET prefix%012d value for every i < count (the keys redis-benchmark -r draws)."""
    c = server.client()
    try:
        errors, first = 0, None
        vhdr = b"$%d\r\n%s\r\n" % (len(value), value)
        phdr = b"*3\r\n$3\r\nSET\r\n$%d\r\n" % (len(prefix) + 12)
        for start in range(0, count, batch):
            end = min(count, start + batch)
            payload = b"".join(b"%s%s%012d\r\n%s" % (phdr, prefix, i, vhdr)
                               for i in range(start, end))
            e, f = c.pipeline(payload, end - start)
            errors += e
            first = first or f
            if errors:
                break
        return errors, first
    finally:
        c.close()


def load_collection(server, structure, count, per_command=100, batch=50):
    """Fill one key with `count` elements: HSET / SADD / ZADD, `per_command` elements each."""
    key = {"hash": "bench:hash", "set": "bench:set", "zset": "bench:zset"}[structure]
    c = server.client()
    try:
        errors, first = 0, None
        cmds = []
        for start in range(0, count, per_command):
            end = min(count, start + per_command)
            if structure == "hash":
                args = ["HSET", key]
                for i in range(start, end):
                    args += [b"element:%012d" % i, MEMORY_VALUE]
            elif structure == "set":
                args = ["SADD", key] + [b"element:%012d" % i for i in range(start, end)]
            else:
                args = ["ZADD", key]
                for i in range(start, end):
                    args += [b"%d" % i, b"element:%012d" % i]
            cmds.append(encode(args))
            if len(cmds) >= batch or end == count:
                e, f = c.pipeline(b"".join(cmds), len(cmds))
                cmds = []
                errors += e
                first = first or f
                if errors:
                    break
        return errors, first
    finally:
        c.close()


def count_strings_by_get(server, count, value, prefix=b"key:", batch=2000):
    """How many of the keys load_strings wrote read back with the right value (pipelined GET);
    the check used when the server has no DBSIZE."""
    c = server.client()
    try:
        good = 0
        hdr = b"*2\r\n$3\r\nGET\r\n$%d\r\n" % (len(prefix) + 12)
        for start in range(0, count, batch):
            end = min(count, start + batch)
            c.sock.sendall(b"".join(b"%s%s%012d\r\n" % (hdr, prefix, i)
                                    for i in range(start, end)))
            for _ in range(end - start):
                if c.read_reply() == value:
                    good += 1
        return good
    finally:
        c.close()


def count_items(server, structure):
    c = server.client()
    try:
        if structure == "string":
            return c.call("DBSIZE")
        cmd = {"hash": "HLEN", "set": "SCARD", "zset": "ZCARD"}[structure]
        key = {"hash": "bench:hash", "set": "bench:set", "zset": "bench:zset"}[structure]
        return c.call(cmd, key)
    finally:
        c.close()


def measure_memory(server, structure, items):
    """Returns a dict with status and bytes per item (RSS and, if reported, used_memory)."""
    row = {"status": "ok", "items": items}
    time.sleep(0.5)
    rss0 = server.rss()
    used0 = server.info("memory").get("used_memory")
    t0 = time.time()
    try:
        if structure == "string":
            errors, first = load_strings(server, items, MEMORY_VALUE)
        else:
            errors, first = load_collection(server, structure, items)
    except (OSError, ConnectionError) as e:
        return {"status": "failed: %s" % e, "items": items}
    if errors:
        return {"status": "error/unsupported", "detail": first, "items": items}
    load_s = time.time() - t0
    try:
        n = count_items(server, structure)
    except ReplyError as e:
        if structure != "string":
            return {"status": "error/unsupported", "detail": "count: %s" % e, "items": items}
        # No DBSIZE: read every key back instead (measured after the RSS, see below).
        n = None
        row["detail"] = "DBSIZE unsupported (%s): all keys checked with GET instead" % e
    if n is not None and n != items:
        return {"status": "failed: %s items after load, expected %d" % (n, items), "items": items}
    time.sleep(1.0)
    rss1 = server.rss()
    used1 = server.info("memory").get("used_memory")
    if n is None:
        n = count_strings_by_get(server, items, MEMORY_VALUE)
        if n != items:
            return {"status": "failed: %s of %d keys read back after load" % (n, items),
                    "items": items}
    row["rss_empty"] = rss0
    row["rss_loaded"] = rss1
    row["bytes_per_item_rss"] = (rss1 - rss0) / items
    if used0 is not None and used1 is not None:
        try:
            row["bytes_per_item_used_memory"] = (int(used1) - int(used0)) / items
        except ValueError:
            pass
    row["load_s"] = load_s
    return row


# ----------------------------------------------------------------------------------------------
# One benchmark run.

def precheck(server, workload):
    """None if the workload's command succeeds on this server, else the error text."""
    cmd = WORKLOAD_BY_TEST[workload][3]
    try:
        c = server.client()
        try:
            c.call(*cmd)
            if workload == "mset":
                c.call("GET", "key:precheck0")
        finally:
            c.close()
    except ReplyError as e:
        return str(e)
    except (OSError, ConnectionError) as e:
        return "connection: %s" % e
    return None


def run_benchmark(server, clients_argv, workload, pipeline, value_bytes, requests, timeout):
    """Run the load generator once against `server`; returns a result dict.

    `clients_argv` holds one command prefix per load-generator process; the clients and requests
    are split evenly between the processes, which run at the same time. Several single-threaded
    processes are used instead of `--threads`, because in threaded mode redis-benchmark and
    valkey-benchmark only notice the end of a run on a 250 ms timer, which quantises the elapsed
    time and so the requests per second.
    """
    nproc = len(clients_argv)
    argvs = []
    for i, prefix in enumerate(clients_argv):
        c = CLIENTS // nproc + (1 if i < CLIENTS % nproc else 0)
        n = requests // nproc + (1 if i < requests % nproc else 0)
        argvs.append((n, list(prefix) + [
            "-h", HOST, "-p", str(server.port), "-c", str(c), "-n", str(n), "-P", str(pipeline),
            "-r", str(KEYSPACE), "-d", str(value_bytes), "--csv", "-t", workload]))
    row = {"status": "ok"}
    cpu0 = server.cpu_seconds()
    sched0 = server.sched_seconds()
    busy0 = machine_busy_seconds()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    procs = []
    for n, argv in argvs:
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        procs.append((n, out, err, subprocess.Popen(argv, stdout=out, stderr=err,
                                                     stdin=subprocess.DEVNULL,
                                                     preexec_fn=_die_with_parent)))
    for _, _, _, proc in procs:
        try:
            proc.wait(timeout=max(1.0, timeout - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            row["status"] = "failed: client timed out after %ds" % timeout
    wall = time.monotonic() - t0
    busy1 = machine_busy_seconds()
    # The clients are the only children reaped during the run: the rusage delta is theirs.
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if not server.alive():
        row["status"] = "failed: server exited with status %s (log: %s)" % (
            server.proc.returncode, server.log_tail(2))
        return row
    cpu1 = server.cpu_seconds()
    sched1 = server.sched_seconds()
    label = WORKLOAD_BY_TEST[workload][1]
    results = []
    for n, outf, errf, proc in procs:
        outf.seek(0)
        errf.seek(0)
        out = outf.read().decode(errors="replace")
        err = errf.read().decode(errors="replace")
        outf.close()
        errf.close()
        if "Error from server" in out + err:
            msg = [l for l in (out + err).splitlines() if "Error from server" in l][0]
            return {"status": "error/unsupported", "detail": msg.strip()}
        if row["status"] != "ok":
            continue
        if proc.returncode != 0:
            row["status"] = "failed: client exit %d: %s" % (proc.returncode,
                                                             (err or out).strip()[-200:])
            continue
        parsed = None
        for rec in csv.reader(io.StringIO(out)):
            if rec and rec[0] == label:
                parsed = rec
        if parsed is None:
            row["status"] = "failed: no result line in client output: %s" % (
                (out + err).strip()[-200:])
            continue
        results.append((n, [float(x) for x in parsed[1:]]))
    if row["status"] != "ok":
        return row
    # rps: all requests over the longest client's elapsed time (the processes start together).
    elapsed = max(n / r[0] for n, r in results)
    row["rps"] = requests / elapsed
    row["avg_ms"] = sum(n * r[1] for n, r in results) / requests
    # Percentiles cannot be merged exactly: p50 is the request-weighted mean of the processes'
    # p50, p99 the worst of their p99 (both exact with one process).
    row["p50_ms"] = sum(n * r[3] for n, r in results) / requests
    row["p99_ms"] = max(r[5] for n, r in results)
    # CPU time: /proc/<pid>/stat (user + system, all threads, dead ones included) counts in
    # 10 ms clock ticks, too coarse for runs of a second or two; the schedstat sum over the
    # live threads counts nanoseconds. Use schedstat unless it is clearly below stat (a thread
    # that exited during the run), in which case stat is the honest figure.
    cpu_stat = cpu1 - cpu0
    row["cpu_us_per_req_stat"] = cpu_stat / requests * 1e6
    cpu = cpu_stat
    row["cpu_source"] = "stat"
    if sched0 is not None and sched1 is not None:
        cpu_sched = sched1 - sched0
        row["cpu_us_per_req_sched"] = cpu_sched / requests * 1e6
        if cpu_sched >= 0.9 * cpu_stat - 2.0 / CLK_TCK:
            cpu = cpu_sched
            row["cpu_source"] = "schedstat"
    row["cpu_us_per_req"] = cpu / requests * 1e6
    row["server_cpu_util"] = cpu / wall
    row["machine_busy_cpus"] = (busy1 - busy0) / wall
    row["client_cpu_util"] = client_cpu / wall
    row["other_cpus"] = max(0.0, row["machine_busy_cpus"] - row["server_cpu_util"]
                            - row["client_cpu_util"])
    row["wall_s"] = wall
    return row


# ----------------------------------------------------------------------------------------------
# Environment description for the report.

def sh(cmd, timeout=10):
    try:
        r = subprocess.run(cmd, shell=True, capture_output=True, timeout=timeout, cwd=REPO_ROOT)
        return r.stdout.decode(errors="replace").strip()
    except Exception:
        return ""


def first_line(text):
    return text.splitlines()[0] if text else ""


def describe_machine():
    lscpu = sh("lscpu")
    keep = ("Architecture", "CPU(s)", "On-line CPU(s) list", "Model name", "Thread(s) per core",
            "Core(s) per socket", "Socket(s)", "Hypervisor vendor", "L1d cache", "L2 cache",
            "L3 cache", "NUMA node(s)")
    lines = [l for l in lscpu.splitlines() if l.split(":")[0].strip() in keep]
    mem = sh("grep MemTotal /proc/meminfo")
    return {
        "lscpu": "\n".join(lines),
        "kernel": platform.release(),
        "uname": " ".join(platform.uname()),
        "mem": mem,
        "loadavg": open("/proc/loadavg").read().strip(),
    }


def git_info():
    head = (sh("git rev-parse --verify -q HEAD 2>/dev/null") or
            os.environ.get("TESSERA_COMMIT") or "(no commit yet)")
    subject = sh("git log -1 --format=%s 2>/dev/null")
    dirty = sh("git status --porcelain --untracked-files=no 2>/dev/null")
    untracked = sh("git status --porcelain 2>/dev/null | grep -c '^??' || true")
    return head, subject, bool(dirty), untracked


# ----------------------------------------------------------------------------------------------
# The plan.

def build_servers(args, mode, workroot):
    """Server objects for a mode, in run order; unavailable ones carry an error text."""
    servers = []
    per_core = mode == "per-core"
    cpu = 0 if per_core else None
    for kind in args.servers:
        wd = os.path.join(workroot, mode, kind)
        if kind == "redis":
            extra = [] if per_core else ["--io-threads", "2", "--io-threads-do-reads", "yes"]
            servers.append(Server("redis", ["redis-server"], VERSIONS.get("redis"), wd, cpu, extra))
        elif kind == "valkey":
            extra = [] if per_core else ["--io-threads", "2", "--io-threads-do-reads", "yes"]
            servers.append(Server("valkey", ["valkey-server"], VERSIONS.get("valkey"), wd, cpu,
                                  extra))
        elif kind == "tessera":
            extra = ["--shards", "1"] if per_core else []
            extra += args.tessera_args.split() if args.tessera_args else []
            servers.append(Server("tessera", [args.tessera_bin], VERSIONS.get("tessera"), wd, cpu,
                                  extra))
    return servers


def client_argv(args, mode):
    """One command prefix per load-generator process."""
    if mode == "per-core":
        return [["taskset", "-c", "1", args.client]]
    return [[args.client]] * args.client_procs


def combos(args):
    """(workload, value_bytes, pipeline) in run order; value-independent workloads run once."""
    out = []
    for vb in args.sizes:
        for p in args.pipelines:
            for w in args.workloads:
                if not WORKLOAD_BY_TEST[w][2] and vb != args.sizes[0]:
                    continue
                out.append((w, vb, p))
    return out


VERSIONS = {}


def detect_versions(args):
    VERSIONS["redis"] = first_line(sh("redis-server --version"))
    VERSIONS["valkey"] = first_line(sh("valkey-server --version"))
    VERSIONS["redis-benchmark"] = first_line(sh("redis-benchmark --version"))
    VERSIONS["valkey-benchmark"] = first_line(sh("valkey-benchmark --version"))
    tb = args.tessera_bin
    if os.path.exists(tb):
        st = os.stat(tb)
        VERSIONS["tessera"] = "%s (built %s)" % (
            os.path.relpath(tb, REPO_ROOT),
            datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC"))
    else:
        VERSIONS["tessera"] = None


def requests_for(args, mode, running, unsupported, cargv, w, vb, p):
    """Requests per run for one workload, the same for every server and run.

    The most is --requests-p1 / --requests-pn. A short probe run (also a warm-up) against the
    first server that supports the workload shortens the runs to about --run-seconds when the
    machine is slow or busy, so quick and full stay within their time budgets, but never below
    --min-requests-p1 / --min-requests-pn.
    """
    most = args.requests_p1 if p == 1 else args.requests_pn
    fewest = min(most, args.min_requests_p1 if p == 1 else args.min_requests_pn)
    probe_n = max(1, min(most // 5, fewest * 2))
    for s in running:
        if (s.kind, w) in unsupported or not s.alive():
            continue
        s.resume()
        r = run_benchmark(s, cargv, w, p, vb, probe_n, args.run_timeout)
        s.pause()
        if r.get("status") != "ok":
            return most
        n = int(r["rps"] * args.run_seconds)
        n = max(fewest, min(most, n))
        if n < most:
            log("%s %s d=%d P=%d: %d requests per run (probe: %.0f rps on %s)" % (
                mode, w.upper(), vb, p, n, r["rps"], s.label))
        return n
    return most


def run_mode(args, mode, workroot, rows, notes, availability):
    servers = build_servers(args, mode, workroot)
    running = []
    try:
        for s in servers:
            if s.kind == "tessera" and not os.path.exists(args.tessera_bin):
                s.error = "binary %s not found (cargo build --release failed or not run)" % (
                    os.path.relpath(args.tessera_bin, REPO_ROOT))
            elif not s.start():
                pass
            if s.error:
                log("%s %s: unavailable: %s" % (mode, s.label, s.error))
                availability[(mode, s.kind)] = s.error
            else:
                log("%s %s: port %d pid %d: %s" % (mode, s.label, s.port, s.proc.pid,
                                                   " ".join(s.argv)))
                s.pause()
                running.append(s)
        cargv = client_argv(args, mode)
        plan = combos(args)
        for s in servers:
            if s.error:
                for (w, vb, p) in plan:
                    rows.append({"kind": "throughput", "mode": mode, "server": s.kind,
                                 "workload": WORKLOAD_BY_TEST[w][1], "value_bytes": vb,
                                 "pipeline": p, "run": 0, "status": "unavailable",
                                 "detail": s.error})
        total = len(plan) * args.runs * len(running)
        done = 0
        preloaded = set()
        unsupported = {}
        t_mode = time.time()
        for (w, vb, p) in plan:
            # GET reads the 1M keys redis-benchmark -r draws: load them first (value size vb).
            if w == "get" and vb not in preloaded:
                for s in running:
                    if not s.alive():
                        continue
                    s.resume()
                    t0 = time.time()
                    try:
                        e, f = load_strings(s, KEYSPACE, b"x" * vb)
                    except (OSError, ConnectionError) as exc:
                        e, f = 1, "connection: %s" % exc
                    if e:
                        notes.append("%s %s: preloading %d-byte keys failed: %s" %
                                     (mode, s.label, vb, f))
                    log("%s %s: preloaded %d keys of %d bytes in %.1fs" %
                        (mode, s.label, KEYSPACE, vb, time.time() - t0))
                    s.pause()
                preloaded.add(vb)
            for s in running:
                if (s.kind, w) in unsupported or not s.alive():
                    continue
                s.resume()
                err = precheck(s, w)
                s.pause()
                if err:
                    unsupported[(s.kind, w)] = err
                    log("%s %s: %s unsupported: %s" % (mode, s.label, w.upper(), err))
            n = requests_for(args, mode, running, unsupported, cargv, w, vb, p)
            for run in range(1, args.runs + 1):
                for s in running:
                    base = {"kind": "throughput", "mode": mode, "server": s.kind,
                            "workload": WORKLOAD_BY_TEST[w][1], "value_bytes": vb,
                            "pipeline": p, "run": run, "requests": n}
                    if (s.kind, w) in unsupported:
                        rows.append(dict(base, status="error/unsupported",
                                         detail=unsupported[(s.kind, w)]))
                        continue
                    if not s.alive():
                        rows.append(dict(base, status="failed: server not running"))
                        continue
                    s.resume()
                    r = run_benchmark(s, cargv, w, p, vb, n, args.run_timeout)
                    s.pause()
                    rows.append(dict(base, **r))
                    done += 1
                    if r["status"] != "ok":
                        log("%s %s %s d=%d P=%d run %d: %s %s" % (
                            mode, s.label, w.upper(), vb, p, run, r["status"],
                            r.get("detail", "")))
                        if r["status"] == "error/unsupported":
                            unsupported[(s.kind, w)] = r.get("detail", "")
                    else:
                        log("%s %s %s d=%d P=%d run %d/%d: %.0f rps, %.2f us CPU/req, p50 %.3f "
                            "p99 %.3f ms  [%d/%d, %.0fs]" % (
                                mode, s.label, w.upper(), vb, p, run, args.runs, r["rps"],
                                r["cpu_us_per_req"], r["p50_ms"], r["p99_ms"], done, total,
                                time.time() - t_mode))
    finally:
        for s in servers:
            s.stop()


def run_memory(args, workroot, rows, availability):
    for structure in args.memory:
        for kind in args.servers:
            mode = "per-core"
            if (mode, kind) in availability:
                rows.append({"kind": "memory", "mode": "memory", "server": kind,
                             "workload": structure, "status": "unavailable"})
                continue
            s = [x for x in build_servers(args, mode, os.path.join(workroot, "memory"))
                 if x.kind == kind][0]
            s.cpu = None
            try:
                if not s.start():
                    rows.append({"kind": "memory", "mode": "memory", "server": kind,
                                 "workload": structure, "status": "failed: %s" % s.error})
                    continue
                r = measure_memory(s, structure, args.memory_items)
                row = {"kind": "memory", "mode": "memory", "server": kind, "workload": structure}
                row.update(r)
                rows.append(row)
                if r["status"] == "ok":
                    log("memory %s %s: %.1f bytes/item RSS (%s used_memory), loaded in %.1fs" % (
                        s.label, structure, r["bytes_per_item_rss"],
                        "%.1f" % r["bytes_per_item_used_memory"]
                        if "bytes_per_item_used_memory" in r else "no",
                        r["load_s"]))
                else:
                    log("memory %s %s: %s %s" % (s.label, structure, r["status"],
                                                 r.get("detail", "")))
            finally:
                s.stop()


def filesystem_of(path):
    """(device, type, mount point) of the filesystem holding `path`, from /proc/mounts."""
    path = os.path.realpath(path)
    best = ("?", "?", "")
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, fstype = line.split()[:3]
                mnt = mnt.replace("\\040", " ")
                inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best[2]):
                    best = (dev, fstype, mnt)
    except OSError:
        pass
    return best


def durability_server(args, kind, conf, root):
    """A per-core server (pinned to CPU 0, tessera `--shards 1`) with the persistence of
    DURABILITY_CONFIGS[conf] and its own fresh, empty working directory under `root`."""
    s = [x for x in build_servers(args, "per-core", root) if x.kind == kind][0]
    s.workdir = os.path.join(root, "%s-%s" % (kind, conf))
    # Fresh and empty: a leftover AOF or WAL would be replayed and change what is measured.
    shutil.rmtree(s.workdir, ignore_errors=True)
    s.persistence = ["--save", ""] + DURABILITY_CONFIGS[conf][1]
    if kind == "tessera":
        # Redis gets --dir from command_line(); tessera is also started in that directory.
        s.persistence += ["--dir", s.workdir]
    s.label = "%s (%s)" % (SERVER_LABELS[kind], DURABILITY_CONFIGS[conf][0])
    s.conf = conf
    return s


def start_durability_servers(args, servers, rows):
    """Start and precheck each server; the ones that fail get error/unsupported rows (never a
    number). Returns the servers that are ready, paused."""
    running = []
    for s in servers:
        base = {"kind": "durability", "mode": "durability", "server": s.kind,
                "workload": WORKLOAD_BY_TEST[DURABILITY_WORKLOAD][1],
                "value_bytes": DURABILITY_VALUE, "pipeline": DURABILITY_PIPELINE, "run": 0,
                "persistence": s.conf}
        if s.kind == "tessera" and not os.path.exists(args.tessera_bin):
            err = "binary %s not found (cargo build --release failed or not run)" % (
                os.path.relpath(args.tessera_bin, REPO_ROOT))
        elif not s.start():
            err = "did not start: %s" % s.error
        else:
            err = precheck(s, DURABILITY_WORKLOAD)
            if err:
                s.stop()
        if err:
            log("durability %s: error/unsupported: %s" % (s.label, err))
            rows.append(dict(base, status="error/unsupported", detail=err))
            continue
        log("durability %s: port %d pid %d: %s" % (s.label, s.port, s.proc.pid, " ".join(s.argv)))
        s.pause()
        running.append(s)
    return running


def run_durability(args, workroot, rows, notes):
    """SET P1, 50 clients, 3-byte values under appendfsync always / everysec / no persistence
    (DURABILITY_PLAN), per-core pinning, servers alternating run by run, args.runs runs each."""
    root = os.path.join(workroot, "durability")
    dev, fstype, mnt = filesystem_of(workroot)
    if fstype in ("tmpfs", "ramfs"):
        notes.append("Durability: the work directory %s is on %s, where fsync costs nothing; "
                     "the figures do not measure a disk." % (workroot, fstype))
    plan = [(k, c) for k, c in DURABILITY_PLAN if k in args.servers]
    if not plan:
        notes.append("Durability: neither tessera nor redis is in --servers; section skipped.")
        return
    servers = [durability_server(args, k, c, root) for k, c in plan]
    w, vb, p = DURABILITY_WORKLOAD, DURABILITY_VALUE, DURABILITY_PIPELINE
    try:
        running = start_durability_servers(args, servers, rows)
        cargv = client_argv(args, "per-core")
        # The probe (see requests_for) sizes the runs from the first server it tries: give it
        # the one expected to be slowest, Redis fsyncing on every event-loop pass, so that no
        # run of the row lasts much longer than --run-seconds.
        probe_order = sorted(running, key=lambda s: (s.conf != "always", s.kind != "redis"))
        n = requests_for(args, "durability", probe_order, {}, cargv, w, vb, p)
        failed = {}
        t0 = time.time()
        for run in range(1, args.runs + 1):
            for s in running:
                base = {"kind": "durability", "mode": "durability", "server": s.kind,
                        "workload": WORKLOAD_BY_TEST[w][1], "value_bytes": vb, "pipeline": p,
                        "run": run, "requests": n, "persistence": s.conf}
                if s in failed:
                    rows.append(dict(base, status="error/unsupported", detail=failed[s]))
                    continue
                if not s.alive():
                    rows.append(dict(base, status="failed: server not running"))
                    continue
                # Write back every dirty page first (outside the timed run), so the kernel does
                # not flush the previous server's files to the same disk during this run.
                os.sync()
                s.resume()
                r = run_benchmark(s, cargv, w, p, vb, n, args.run_timeout)
                s.pause()
                rows.append(dict(base, **r))
                if r["status"] != "ok":
                    log("durability %s run %d: %s %s" % (s.label, run, r["status"],
                                                         r.get("detail", "")))
                    if r["status"] == "error/unsupported":
                        failed[s] = r.get("detail", "")
                else:
                    log("durability %s run %d/%d: %.0f rps, %.2f us CPU/req, p50 %.3f p99 %.3f "
                        "ms  [%.0fs]" % (s.label, run, args.runs, r["rps"], r["cpu_us_per_req"],
                                         r["p50_ms"], r["p99_ms"], time.time() - t0))
    finally:
        for s in servers:
            s.stop()
        # The AOF / WAL files are scratch: nothing in them is kept.
        shutil.rmtree(root, ignore_errors=True)
    notes.append("Durability: fresh server working directories under %s (%s on %s, mounted at "
                 "%s), deleted after the section." % (os.path.relpath(root, REPO_ROOT), fstype,
                                                      dev, mnt))


# ----------------------------------------------------------------------------------------------
# Report.

CSV_FIELDS = ["kind", "mode", "server", "workload", "value_bytes", "pipeline", "run", "requests",
              "status",
              "rps", "cpu_us_per_req", "cpu_source", "cpu_us_per_req_stat",
              "cpu_us_per_req_sched", "p50_ms", "p99_ms", "avg_ms",
              "server_cpu_util", "client_cpu_util", "machine_busy_cpus", "other_cpus", "wall_s",
              "items", "bytes_per_item_rss", "bytes_per_item_used_memory", "rss_empty",
              "rss_loaded", "load_s", "detail", "persistence"]


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})


def median_of(rows, field):
    vals = [r[field] for r in rows if r.get("status") == "ok" and field in r]
    return statistics.median(vals) if vals else None


def summarize(rows):
    """{(mode, server, workload, vb, p): cell} with medians or a status text."""
    groups = {}
    for r in rows:
        if r["kind"] != "throughput":
            continue
        key = (r["mode"], r["server"], r["workload"], r["value_bytes"], r["pipeline"])
        groups.setdefault(key, []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        if len(ok) == len(rs):
            out[key] = {"status": "ok", "runs": len(ok),
                        **{f: median_of(rs, f) for f in
                           ("rps", "cpu_us_per_req", "p50_ms", "p99_ms", "server_cpu_util",
                            "client_cpu_util", "other_cpus")}}
        else:
            bad = [r["status"] for r in rs if r["status"] != "ok"]
            status = "error/unsupported" if "error/unsupported" in bad else \
                "unavailable" if "unavailable" in bad else bad[0]
            out[key] = {"status": status, "runs": len(ok)}
    return out


def summarize_durability(rows):
    """{(server, persistence id): cell} for the durability section. Any run that did not
    succeed (server did not start, error reply, client failure) makes the cell
    error/unsupported: that configuration gets no number."""
    groups = {}
    for r in rows:
        if r["kind"] == "durability":
            groups.setdefault((r["server"], r["persistence"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        if ok and len(ok) == len(rs):
            out[key] = {"status": "ok", "runs": len(ok), "requests": ok[0].get("requests"),
                        **{f: median_of(rs, f) for f in
                           ("rps", "cpu_us_per_req", "p50_ms", "p99_ms", "server_cpu_util",
                            "client_cpu_util")}}
        else:
            out[key] = {"status": "error/unsupported", "runs": len(ok)}
    return out


def durability_ratio(dsum, a, b):
    """requests/s of cell a over cell b ((server, persistence) keys), or None."""
    ca, cb = dsum.get(a), dsum.get(b)
    if not ca or not cb or ca["status"] != "ok" or cb["status"] != "ok":
        return None
    return ratio(ca["rps"], cb["rps"])


def durability_targets(dsum):
    """The durability entries of target_measurements: {target_id: (ratio or None, how)}."""
    def one(a, b):
        r = durability_ratio(dsum, a, b)
        if r is not None:
            return r, "%s %s / %s %s requests/s, median of %d runs" % (
                SERVER_LABELS[a[0]], fmt_num(dsum[a]["rps"]), SERVER_LABELS[b[0]],
                fmt_num(dsum[b]["rps"]), dsum[a]["runs"])
        bad = ["%s %s: %s" % (SERVER_LABELS[k[0]], DURABILITY_CONFIGS[k[1]][0],
                              dsum[k]["status"] if k in dsum else "not run") for k in (a, b)
               if k not in dsum or dsum[k]["status"] != "ok"]
        return None, "not measured (%s)" % "; ".join(bad)

    return {"dur_always_rps": one(("tessera", "always"), ("redis", "always")),
            "dur_everysec_rps": one(("tessera", "everysec"), ("tessera", "none"))}


def fmt_num(v, digits=0):
    if v is None:
        return "-"
    if digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{d}f}".format(v, d=digits)


def cell(summary, key, field, digits=0):
    c = summary.get(key)
    if c is None:
        return "-"
    if c["status"] != "ok":
        return c["status"] if c["status"] in ("error/unsupported", "unavailable") else "failed"
    return fmt_num(c.get(field), digits)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "-" if r is None else "%.2fx" % r


def geomean(vals):
    vals = [v for v in vals if v is not None and v > 0]
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def ratio_cell(summary, mode, a, b, w, vb, p, field):
    ca, cb = summary.get((mode, a, w, vb, p)), summary.get((mode, b, w, vb, p))
    if not ca or not cb or ca["status"] != "ok" or cb["status"] != "ok":
        return None
    return ratio(ca.get(field), cb.get(field))


def target_measurements(summary, memrows, servers, availability, durability=None):
    """{target_id: (ratio or None, explanation)} for the report's target table."""
    res = {}
    # The durability section starts its own servers: its targets do not depend on the modes.
    if durability is not None:
        res.update(durability_targets(durability))
    t_ok = "tessera" in servers
    keys = sorted({(k[2], k[3], k[4]) for k in summary})

    def over(mode, base, pred, field):
        vals, parts, failed = [], [], []
        for (w, vb, p) in keys:
            if not pred(w, vb, p):
                continue
            c = summary.get((mode, "tessera", w, vb, p))
            if c and c["status"] not in ("ok", "error/unsupported", "unavailable"):
                failed.append("%s d=%d P%d" % (w, vb, p))
            r = ratio_cell(summary, mode, "tessera", base, w, vb, p, field)
            if r is not None:
                vals.append(r)
                if w in ("SET", "GET"):
                    parts.append("%s d=%d P%d %.2fx" % (w, vb, p, r))
        g = geomean(vals)
        extra = ""
        if failed:
            extra = "; tessera FAILED (excluded): %s" % ", ".join(failed)
        if mode == "whole-machine" and (os.cpu_count() or 0) <= 2:
            extra += ("; only %d CPUs, shared by the servers and the load generator, where "
                      "io-threads busy-polling hurts Redis/Valkey: not a fair test of this "
                      "target" % (os.cpu_count() or 0))
        if g is None:
            return None, "no workload tessera supports was measured" + extra
        return g, "geomean of %d workloads; %s%s" % (len(vals), ", ".join(parts), extra)

    if not t_ok or ("per-core", "tessera") in availability:
        why = "tessera unavailable"
        for tid, *_ in TARGETS:
            res.setdefault(tid, (None, why))
        return res
    res["core_p1_rps"] = over("per-core", "redis", lambda w, vb, p: p == 1, "rps")
    res["core_p16_rps"] = over("per-core", "redis", lambda w, vb, p: p != 1, "rps")
    res["core_p1_cpu"] = over("per-core", "redis", lambda w, vb, p: p == 1, "cpu_us_per_req")
    res["core_p16_cpu"] = over("per-core", "redis", lambda w, vb, p: p != 1, "cpu_us_per_req")
    if ("whole-machine", "tessera") in availability:
        res["machine_rps"] = (None, "tessera unavailable in whole-machine mode")
    else:
        res["machine_rps"] = over("whole-machine", "valkey", lambda w, vb, p: True, "rps")
    mem = {(r["server"], r["workload"]): r for r in memrows}

    def mem_ratio(structure):
        a, b = mem.get(("tessera", structure)), mem.get(("redis", structure))
        if not a or not b or a.get("status") != "ok" or b.get("status") != "ok":
            return None
        return ratio(a["bytes_per_item_rss"], b["bytes_per_item_rss"])

    r = mem_ratio("string")
    res["mem_string"] = (r, "RSS per key" if r is not None else "not measured")
    cols = [(s, mem_ratio(s)) for s in ("hash", "set", "zset")]
    got = [v for _, v in cols if v is not None]
    res["mem_collection"] = (max(got) if got else None,
                             "worst of " + ", ".join("%s %s" % (s, fmt_ratio(v)) for s, v in cols)
                             if got else "not measured (tessera lacks the commands, or skipped)")
    return res


def durability_section(add, args, dsum):
    """The report's "Durability" section: one row per DURABILITY_PLAN entry, then the ratios."""
    add("## Durability (SET, 50 clients, pipeline 1)")
    add("")
    n = sorted({c["requests"] for c in dsum.values() if c.get("requests")})
    add("`%s -t set -c %d -P %d -d %d -r %d`, pinned as in the per-core mode (server on CPU 0, "
        "tessera `--shards 1`; `%s` on CPU 1), %s requests per run, median of %d runs, the "
        "servers alternating run by run. Every server runs with `--save ''` and the "
        "persistence below, in its own fresh, empty directory (`--dir`) under the harness work "
        "directory, all on the same disk, deleted afterwards. Before each run every dirty page "
        "is written back (sync), so no server's writes are flushed during another's run. A "
        "server that does not start, or a run that fails, is shown as error/unsupported." % (
            args.client, CLIENTS, DURABILITY_PIPELINE, DURABILITY_VALUE, KEYSPACE, args.client,
            " / ".join(fmt_num(x) for x in n) or "-", args.runs))
    add("")
    add("| server | persistence | requests/s | server CPU us/request | p50 / p99 ms | "
        "server / client CPUs |")
    add("|---|---|---|---|---|---|")
    for kind, conf in DURABILITY_PLAN:
        if kind not in args.servers:
            continue
        c = dsum.get((kind, conf))
        cells = [SERVER_LABELS[kind], DURABILITY_CONFIGS[conf][0]]
        if c is None or c["status"] != "ok":
            cells += [c["status"] if c else "-"] + ["-"] * 3
        else:
            cells += [fmt_num(c["rps"]), fmt_num(c["cpu_us_per_req"], 2),
                      "%.3f / %.3f" % (c["p50_ms"], c["p99_ms"]),
                      "%.2f / %.2f" % (c["server_cpu_util"], c["client_cpu_util"])]
        add("| " + " | ".join(cells) + " |")
    add("")
    add("| requests/s ratio | measured | target | met |")
    add("|---|---|---|---|")
    for desc, a, b, op, goal in (
            ("appendfsync always: tessera / Redis", ("tessera", "always"), ("redis", "always"),
             ">=", 2.0),
            ("tessera: appendfsync everysec / no persistence", ("tessera", "everysec"),
             ("tessera", "none"), ">=", 0.9),
            ("appendfsync everysec: tessera / Redis (reference)", ("tessera", "everysec"),
             ("redis", "everysec"), None, None)):
        r = durability_ratio(dsum, a, b)
        met = "-" if r is None or op is None else ("yes" if r >= goal else "no")
        add("| %s | %s | %s | %s |" % (desc, fmt_ratio(r),
                                       "%s %.2fx" % (op, goal) if op else "-", met))
    add("")


def write_report(path, args, rows, notes, availability, started, finished, machine, machine_end,
                 chart_name):
    summary = summarize(rows)
    memrows = [r for r in rows if r["kind"] == "memory"]
    head, subject, dirty, untracked = git_info()
    L = []
    add = L.append
    title = "quick" if args.quick else "full"
    add("# Tessera vs Redis 7.0 vs Valkey 8.0: %s run, %s" % (title, started.strftime(
        "%Y-%m-%d %H:%M UTC")))
    add("")
    add("Generated by `%s` (bench/bench.py). Duration %.1f minutes." % (
        "make bench-quick" if args.quick else "make bench",
        (finished - started).total_seconds() / 60))
    add("")
    busy_note = []
    if args.note:
        busy_note.append(args.note)
    others = [r["other_cpus"] for r in rows if r.get("status") == "ok" and "other_cpus" in r]
    if others:
        busy_note.append("CPU used by other processes during the runs (machine busy time minus "
                         "the server's and the client's, of %d CPUs): median %.2f CPUs, max %.2f; "
                         "load average at start %s, at end %s." % (
                             os.cpu_count(), statistics.median(others), max(others),
                             machine["loadavg"].split()[0], machine_end["loadavg"].split()[0]))
    for n in busy_note:
        add("> " + n)
        add("")
    # Availability.
    for (mode, kind), err in sorted(availability.items()):
        add("**%s unavailable in %s mode:** %s" % (SERVER_LABELS[kind], mode, err))
        add("")

    # Targets.
    add("## Targets (issue 4, durability)")
    add("")
    dsum = summarize_durability(rows)
    tm = target_measurements(summary, memrows, args.servers, availability,
                             dsum if args.durability else None)
    add("| target | goal | measured | met | how |")
    add("|---|---|---|---|---|")
    for tid, desc, op, goal in TARGETS:
        val, how = tm.get(tid, (None, "not measured in this run"))
        if tid == "machine_rps" and "whole-machine" not in args.modes:
            val, how = None, "whole-machine mode not run" + (" (quick run)" if args.quick else "")
        if tid == "mem_collection" and not set(args.memory) & {"hash", "set", "zset"}:
            val, how = None, "collections not measured" + (" (quick run)" if args.quick else "")
        if tid.startswith("dur_") and not args.durability:
            val, how = None, "durability section not run (--durability no)"
        met = "-" if val is None else ("yes" if (val >= goal if op == ">=" else val <= goal)
                                       else "no")
        add("| %s | %s %.2fx | %s | %s | %s |" % (desc, op, goal, fmt_ratio(val), met, how))
    add("")

    servers = args.servers
    for mode in args.modes:
        if mode == "per-core":
            add("## Per core: each server pinned to CPU 0, `%s` pinned to CPU 1" % args.client)
            add("")
            add("tessera `--shards 1`; Redis and Valkey single-threaded (io-threads 1).")
        else:
            add("## Whole machine: nothing pinned, %d `%s` processes" % (
                args.client_procs, args.client))
            add("")
            add("tessera with its default shard count; Redis and Valkey with `io-threads 2` "
                "and `io-threads-do-reads yes`.")
        add("")
        if mode == "whole-machine" and args.client_procs > 1:
            add("The %d clients and the requests are split over %d load-generator processes "
                "started together (not `--threads`, whose 250 ms end-of-run timer quantises the "
                "elapsed time); requests/s = all requests / the longest elapsed time, p50 = the "
                "processes' mean p50, p99 = their worst p99." % (CLIENTS, args.client_procs))
            add("")
        add("%d clients, random keys over a %s keyspace (`-r %d`), median of %d runs per cell "
            "(servers alternating run by run). Requests per run: at most %s at pipeline 1 and "
            "%s otherwise, fewer (at least %s / %s) where a probe run showed that a run "
            "would last more than %.1f s; the same count for every server of a row (column "
            "`requests` of the CSV)." % (
                CLIENTS, fmt_num(KEYSPACE), KEYSPACE, args.runs, fmt_num(args.requests_p1),
                fmt_num(args.requests_pn), fmt_num(min(args.min_requests_p1, args.requests_p1)),
                fmt_num(min(args.min_requests_pn, args.requests_pn)), args.run_seconds))
        add("")
        keys = [k for k in combos(args)]
        for title, field, digits in (("Requests per second", "rps", 0),
                                     ("Server CPU time per request (microseconds, user + system)",
                                      "cpu_us_per_req", 2)):
            add("### " + title)
            add("")
            hdr = ["workload", "value B", "pipeline"] + [SERVER_LABELS[s] for s in servers]
            has_t = "tessera" in servers
            if has_t:
                hdr += ["tessera/Redis" if "redis" in servers else None,
                        "tessera/Valkey" if "valkey" in servers else None]
                hdr = [h for h in hdr if h]
            elif "redis" in servers and "valkey" in servers:
                hdr += ["Valkey/Redis"]
            if has_t and mode == "per-core" and "redis" in servers:
                hdr += ["target vs Redis"]
            if has_t and mode == "whole-machine" and "valkey" in servers:
                hdr += ["target vs Valkey"]
            add("| " + " | ".join(hdr) + " |")
            add("|" + "---|" * len(hdr))
            for (w, vb, p) in keys:
                label = WORKLOAD_BY_TEST[w][1]
                cells = [label, str(vb), str(p)]
                cells += [cell(summary, (mode, s, label, vb, p), field, digits) for s in servers]
                if has_t:
                    for base in ("redis", "valkey"):
                        if base in servers:
                            cells.append(fmt_ratio(ratio_cell(summary, mode, "tessera", base,
                                                              label, vb, p, field)))
                    if mode == "per-core" and "redis" in servers:
                        if field == "rps":
                            cells.append(">= 1.30x" if p == 1 else ">= 1.60x")
                        else:
                            cells.append("<= 0.75x" if p == 1 else "<= 0.60x")
                    if mode == "whole-machine" and "valkey" in servers:
                        cells.append(">= 1.30x" if field == "rps" else "-")
                elif "redis" in servers and "valkey" in servers:
                    cells.append(fmt_ratio(ratio_cell(summary, mode, "valkey", "redis", label, vb,
                                                      p, field)))
                add("| " + " | ".join(cells) + " |")
            add("")
        add("### Latency p50 / p99 (ms, from redis-benchmark)")
        add("")
        hdr = ["workload", "value B", "pipeline"] + [SERVER_LABELS[s] + " p50 / p99"
                                                     for s in servers]
        add("| " + " | ".join(hdr) + " |")
        add("|" + "---|" * len(hdr))
        for (w, vb, p) in keys:
            label = WORKLOAD_BY_TEST[w][1]
            cells = [label, str(vb), str(p)]
            for s in servers:
                c = summary.get((mode, s, label, vb, p))
                if c is None:
                    cells.append("-")
                elif c["status"] != "ok":
                    cells.append(cell(summary, (mode, s, label, vb, p), "p50_ms"))
                else:
                    cells.append("%.3f / %.3f" % (c["p50_ms"], c["p99_ms"]))
            add("| " + " | ".join(cells) + " |")
        add("")
        # Server CPU utilisation tells whether the server or the client was the bottleneck.
        add("<details><summary>CPU utilisation during the runs, server / load generator (CPUs "
            "busy; 1.00 = one core saturated: a saturated client means the figure is a floor for "
            "the server)</summary>")
        add("")
        hdr = ["workload", "value B", "pipeline"] + [SERVER_LABELS[s] + " server / client"
                                                     for s in servers]
        add("| " + " | ".join(hdr) + " |")
        add("|" + "---|" * len(hdr))
        for (w, vb, p) in keys:
            label = WORKLOAD_BY_TEST[w][1]
            cells = [label, str(vb), str(p)]
            for s in servers:
                c = summary.get((mode, s, label, vb, p))
                if c is None or c["status"] != "ok":
                    cells.append(cell(summary, (mode, s, label, vb, p), "server_cpu_util"))
                else:
                    cells.append("%.2f / %.2f" % (c["server_cpu_util"], c["client_cpu_util"]))
            add("| " + " | ".join(cells) + " |")
        add("")
        add("</details>")
        add("")

    if args.durability:
        durability_section(add, args, dsum)

    if memrows:
        add("## Memory")
        add("")
        add("Server RSS after loading minus RSS when empty, divided by items; each structure in a "
            "fresh server (per-core configuration: tessera `--shards 1`). Strings: %s keys "
            "`key:%%012d` with %d-byte values, checked with DBSIZE. Collections: one key with %s "
            "elements `element:%%012d` (hash values %d bytes, zset scores = index), checked with "
            "HLEN / SCARD / ZCARD. In brackets: the server's own `used_memory` per item, where "
            "INFO reports it." % (fmt_num(args.memory_items), len(MEMORY_VALUE),
                                  fmt_num(args.memory_items), len(MEMORY_VALUE)))
        add("")
        hdr = ["structure", "unit"] + [SERVER_LABELS[s] + " bytes" for s in servers]
        if "tessera" in servers:
            hdr += [h for h in ("tessera/Redis" if "redis" in servers else None,
                                "tessera/Valkey" if "valkey" in servers else None) if h]
            hdr += ["target vs Redis"]
        elif "redis" in servers and "valkey" in servers:
            hdr += ["Valkey/Redis"]
        add("| " + " | ".join(hdr) + " |")
        add("|" + "---|" * len(hdr))
        mem = {(r["server"], r["workload"]): r for r in memrows}

        def mcell(s, st):
            r = mem.get((s, st))
            if not r:
                return "-"
            if r.get("status") != "ok":
                return r["status"] if r["status"] in ("error/unsupported", "unavailable") \
                    else "failed"
            t = "%.1f" % r["bytes_per_item_rss"]
            if r.get("bytes_per_item_used_memory") is not None:
                t += " (%.1f)" % r["bytes_per_item_used_memory"]
            return t

        def mratio(a, b, st):
            ra, rb = mem.get((a, st)), mem.get((b, st))
            if not ra or not rb or ra.get("status") != "ok" or rb.get("status") != "ok":
                return "-"
            return fmt_ratio(ratio(ra["bytes_per_item_rss"], rb["bytes_per_item_rss"]))

        for st in args.memory:
            unit = "per key" if st == "string" else "per element"
            cells = [st, unit] + [mcell(s, st) for s in servers]
            if "tessera" in servers:
                for base in ("redis", "valkey"):
                    if base in servers:
                        cells.append(mratio("tessera", base, st))
                cells.append("<= 0.60x" if st == "string" else "<= 1.00x")
            elif "redis" in servers and "valkey" in servers:
                cells.append(mratio("valkey", "redis", st))
            add("| " + " | ".join(cells) + " |")
        add("")
        for r in memrows:
            if r.get("status") == "ok" and r.get("detail"):
                add("- %s %s: %s" % (SERVER_LABELS[r["server"]], r["workload"], r["detail"]))
                add("")

    problems = {}
    for r in rows:
        st = r.get("status", "ok")
        if st in ("ok", "unavailable"):
            continue
        what = "%s %s %s" % (r["mode"], SERVER_LABELS[r["server"]], r["workload"])
        if r.get("persistence"):
            what += " (%s)" % DURABILITY_CONFIGS[r["persistence"]][0]
        problems.setdefault(what, "%s%s" % (st, (": " + r["detail"]) if r.get("detail") else ""))
    if problems:
        add("## Errors and failures")
        add("")
        for what, why in problems.items():
            add("- %s: %s" % (what, why.replace("|", "/")))
        add("")

    if notes:
        add("## Notes")
        add("")
        for n in notes:
            add("- " + n)
        add("")

    if chart_name:
        add("## Chart")
        add("")
        add("![throughput and CPU per request](%s)" % chart_name)
        add("")

    add("## Machine")
    add("")
    add("```")
    add(machine["lscpu"])
    add("Kernel: %s" % machine["kernel"])
    add(machine["mem"])
    add("Load average at start: %s" % machine["loadavg"])
    add("Load average at end:   %s" % machine_end["loadavg"])
    add("```")
    add("")
    add("## Versions and commits")
    add("")
    add("- tessera: commit `%s`%s%s; binary %s; extra arguments: `%s`" % (
        head, " (%s)" % subject if subject else "",
        ", work tree has uncommitted changes to tracked files" if dirty else "",
        VERSIONS.get("tessera") or "not built", args.tessera_args or "none"))
    add("- Redis: %s" % VERSIONS.get("redis"))
    add("- Valkey: %s" % VERSIONS.get("valkey"))
    add("- Load generators: %s; %s" % (VERSIONS.get("redis-benchmark"),
                                       VERSIONS.get("valkey-benchmark")))
    add("- Python %s" % platform.python_version())
    add("")
    add("## Method")
    add("")
    add("- Servers are started by the harness on free ports of 127.0.0.1 with `--save '' "
        "--appendonly no` (the durability section: see there); only the server being measured "
        "runs, the others are stopped with SIGSTOP.")
    add("- CPU per request: CPU time of the server process (all threads, user + system) across "
        "the client run, divided by the requests completed; includes the connection setup of "
        "the %d clients. Taken from `/proc/<pid>/task/*/schedstat` (nanoseconds), checked "
        "against user + system time in `/proc/<pid>/stat` (10 ms ticks, which also counts "
        "threads that exited), which is used instead when the two disagree; the CSV has both "
        "(`cpu_us_per_req_sched`, `cpu_us_per_req_stat`, `cpu_source`)." % CLIENTS)
    add("- Before GET, the 1M keys `key:%012d` that `-r 1000000` draws are loaded with the "
        "value size of the row, so GETs hit.")
    add("- A workload is run on a server only if its command succeeds once first; "
        "redis-benchmark 7.0 also exits on the first error reply, which the harness reports as "
        "error/unsupported.")
    add("- Raw per-run rows: `%s`." % os.path.basename(path).replace(".md", ".csv"))
    add("")
    with open(path, "w") as f:
        f.write("\n".join(L))


# ----------------------------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true",
                   help="SET/GET, per-core only, string memory only (under 3 minutes)")
    g.add_argument("--full", action="store_true", help="everything (the default)")
    ap.add_argument("--servers", default="tessera,redis,valkey")
    ap.add_argument("--modes", default=None, help="per-core,whole-machine or 'none'")
    ap.add_argument("--workloads", default=None, help="comma list of redis-benchmark tests")
    ap.add_argument("--sizes", default=None, help="value sizes in bytes, e.g. 3,100")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests-p1", type=int, default=None,
                    help="most requests per run at pipeline 1")
    ap.add_argument("--min-requests-p1", type=int, default=5_000)
    ap.add_argument("--min-requests-pn", type=int, default=25_000)
    ap.add_argument("--run-seconds", type=float, default=None,
                    help="aim for runs about this long when the machine is slow")
    ap.add_argument("--requests-pn", type=int, default=None, help="requests at pipeline > 1")
    ap.add_argument("--memory", default=None, help="string,hash,set,zset or 'none'")
    ap.add_argument("--memory-items", type=int, default=MEMORY_ITEMS)
    ap.add_argument("--durability", choices=("yes", "no"), default=None,
                    help="SET P1 with appendfsync always / everysec / no persistence "
                    "(default: yes, --quick: no)")
    ap.add_argument("--tessera-bin", default=os.path.join(REPO_ROOT, "target/release/tessera"))
    ap.add_argument("--tessera-args", default=os.environ.get("TESSERA_ARGS", ""),
                    help="extra arguments for tessera (env TESSERA_ARGS)")
    ap.add_argument("--client", default="redis-benchmark", help="per-core load generator")
    ap.add_argument("--client-procs", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                    help="load-generator processes in whole-machine mode (default: half the "
                    "CPUs, so that the servers keep the other half)")
    ap.add_argument("--run-timeout", type=int, default=60,
                    help="seconds before a client run is killed and the row marked failed")
    ap.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "bench/results"))
    ap.add_argument("--work-dir", default=os.path.join(REPO_ROOT, "bench/.work"))
    ap.add_argument("--note", default=os.environ.get("BENCH_NOTE", ""),
                    help="a sentence to put at the top of the report (env BENCH_NOTE)")
    ap.add_argument("--no-chart", action="store_true")
    a = ap.parse_args(argv)
    q = a.quick
    a.servers = [s for s in a.servers.split(",") if s]
    for s in a.servers:
        if s not in SERVER_LABELS:
            ap.error("unknown server %s" % s)
    a.modes = (a.modes or ("per-core" if q else "per-core,whole-machine")).split(",")
    a.modes = [] if a.modes == ["none"] else a.modes
    for m in a.modes:
        if m not in ("per-core", "whole-machine"):
            ap.error("unknown mode %s" % m)
    a.workloads = (a.workloads or ("set,get" if q else ",".join(w[0] for w in WORKLOADS))).split(",")
    for w in a.workloads:
        if w not in WORKLOAD_BY_TEST:
            ap.error("unknown workload %s" % w)
    a.sizes = [int(x) for x in (a.sizes or ("3" if q else "3,100")).split(",")]
    a.pipelines = [int(x) for x in a.pipelines.split(",")]
    a.requests_p1 = a.requests_p1 or (50_000 if q else 100_000)
    a.requests_pn = a.requests_pn or (300_000 if q else 500_000)
    a.run_seconds = a.run_seconds or (1.0 if q else 1.5)
    mem = a.memory or ("string" if q else "string,hash,set,zset")
    a.memory = [] if mem == "none" else mem.split(",")
    a.durability = (a.durability or ("no" if q else "yes")) == "yes"
    a.tessera_bin = os.path.abspath(a.tessera_bin)
    return a


def output_paths(out_dir, started, quick):
    base = started.strftime("%Y-%m-%d") + ("-quick" if quick else "")
    name, i = base, 1
    while os.path.exists(os.path.join(out_dir, name + ".md")):
        i += 1
        name = "%s-%d" % (base, i)
    return os.path.join(out_dir, name)


def main(argv):
    args = parse_args(argv)
    for tool in ("taskset", args.client):
        if not shutil.which(tool):
            sys.exit("bench: %s not found; run bench/setup.sh" % tool)
    needed = {"redis": "redis-server", "valkey": "valkey-server"}
    for s in args.servers:
        if s in needed and not shutil.which(needed[s]):
            sys.exit("bench: %s not found; run bench/setup.sh" % needed[s])
    if os.cpu_count() < 2 and ("per-core" in args.modes or args.durability):
        sys.exit("bench: per-core mode and the durability section need at least 2 CPUs")

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGINT, on_signal)  # also when started with SIGINT ignored (nohup, &)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    detect_versions(args)
    started = datetime.datetime.now(datetime.timezone.utc)
    machine = describe_machine()
    os.makedirs(args.out_dir, exist_ok=True)
    workroot = os.path.join(args.work_dir, started.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(workroot, exist_ok=True)
    rows, notes, availability = [], [], {}
    log("%s run: servers %s, modes %s, workloads %s, sizes %s, pipelines %s, %d runs, "
        "durability %s" % (
            "quick" if args.quick else "full", ",".join(args.servers),
            ",".join(args.modes) or "none", ",".join(args.workloads), args.sizes,
            args.pipelines, args.runs, "yes" if args.durability else "no"))
    try:
        for mode in args.modes:
            run_mode(args, mode, workroot, rows, notes, availability)
        if args.durability:
            run_durability(args, workroot, rows, notes)
        if args.memory:
            run_memory(args, workroot, rows, availability)
    except KeyboardInterrupt:
        log("interrupted: stopping servers, writing nothing")
        stop_all_servers()
        sys.exit(130)
    finally:
        stop_all_servers()
    finished = datetime.datetime.now(datetime.timezone.utc)
    base = output_paths(args.out_dir, started, args.quick)
    write_csv(base + ".csv", rows)
    chart_name = None
    if not args.no_chart:
        r = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "bench/chart.py"),
                            base + ".csv", base + ".png"], capture_output=True)
        if r.returncode == 0:
            chart_name = os.path.basename(base + ".png")
        else:
            notes.append("No chart: %s" % (r.stderr.decode(errors="replace").strip()
                                          .splitlines() or ["chart.py failed"])[-1])
    write_report(base + ".md", args, rows, notes, availability, started, finished, machine,
                 describe_machine(), chart_name)
    log("wrote %s.md, %s.csv%s (%.1f minutes)" % (
        base, base, ", %s.png" % base if chart_name else "",
        (finished - started).total_seconds() / 60))


if __name__ == "__main__":
    main(sys.argv[1:])
