#!/usr/bin/env python3
"""Dumps a live redis-server's COMMAND INFO and COMMAND DOCS replies (RESP3,
types preserved) to src/command/redis_commands.json.

Tessera's command table reads this file for the facts Redis publishes about
each command (arity, flags, key specs, ACL categories, docs), so that COMMAND
output and key routing match Redis byte for byte. Regenerate with:

    redis-server --port 7777 --save '' --daemonize yes
    python3 tools/gen_commands.py 7777
    redis-cli -p 7777 shutdown nosave

JSON encoding of RESP3 values: bulk string -> JSON string; simple string ->
{"s": ...}; integer -> number; array -> list; map -> {"m": [[k, v], ...]};
set -> {"set": [...]}; null -> null.
"""
import json
import socket
import sys


def read_line(f):
    line = f.readline()
    assert line.endswith(b"\r\n"), line
    return line[:-2]


def read(f):
    line = read_line(f)
    kind, rest = line[:1], line[1:]
    if kind == b"$":
        n = int(rest)
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "surrogateescape")
    if kind == b"+":
        return {"s": rest.decode()}
    if kind == b":":
        return int(rest)
    if kind == b"*":
        return [read(f) for _ in range(int(rest))]
    if kind == b"~":
        return {"set": [read(f) for _ in range(int(rest))]}
    if kind == b"%":
        return {"m": [[read(f), read(f)] for _ in range(int(rest))]}
    if kind == b"_":
        return None
    if kind == b"-":
        raise RuntimeError(rest.decode())
    raise RuntimeError(f"unexpected reply type {line!r}")


def command(sock, f, *args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    sock.sendall(out)
    return read(f)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
    sock = socket.create_connection(("127.0.0.1", port))
    f = sock.makefile("rb")
    command(sock, f, "HELLO", "3")
    info = command(sock, f, "COMMAND", "INFO")
    docs = command(sock, f, "COMMAND", "DOCS")
    docs_by_name = {k: v for k, v in docs["m"]}
    commands = {}
    for entry in info:
        name = entry[0]
        commands[name] = {"info": entry, "docs": docs_by_name.get(name)}
    out = {"redis_version": "7.0.15", "commands": dict(sorted(commands.items()))}
    path = "src/command/redis_commands.json"
    with open(path, "w") as fh:
        json.dump(out, fh, separators=(",", ":"), sort_keys=False)
        fh.write("\n")
    print(f"wrote {len(commands)} commands to {path}")


if __name__ == "__main__":
    main()
