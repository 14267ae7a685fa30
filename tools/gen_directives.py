#!/usr/bin/env python3
"""Generates src/config/directives.tsv, the facts about every Redis 7.0.15
directive (name, alias, type, flags, bounds, enum values, default), from
Redis's config table (src/config.c of the redis-7.0.15 source tree) and the
CONFIG GET * output of a live Redis (src/config/redis_defaults.tsv).

usage: tools/gen_directives.py <redis-src-dir> > src/config/directives.tsv
"""
import re
import sys

src = open(sys.argv[1] + "/config.c").read()
defaults = {}
for line in open("src/config/redis_defaults.tsv"):
    name, value = line.rstrip("\n").split("\t", 1)
    defaults[name] = value

enums = {}
for m in re.finditer(r"configEnum (\w+)\[\] = \{(.*?)\};", src, re.S):
    enums[m.group(1)] = re.findall(r'\{"([^"]+)",', m.group(2))

start = src.index("standardConfig static_configs[] = {")
end = src.index("{NULL}", start)
body = src[start:end]
C = {"INT_MAX": 2**31 - 1, "INT_MIN": -(2**31), "UINT_MAX": 2**32 - 1, "LONG_MAX": 2**63 - 1,
     "LLONG_MAX": 2**63 - 1, "ULLONG_MAX": 2**64 - 1, "SSIZE_MAX": 2**63 - 1}

def num(expr):
    expr = expr.strip()
    if expr in C:
        return C[expr]
    expr = expr.replace("ll", "")
    if re.fullmatch(r"0[0-7]+", expr):
        return int(expr, 8)
    return eval(expr)

unsigned = {"createUIntConfig", "createULongLongConfig", "createSizeTConfig"}
print("# name\talias\ttype\tflags\tlower\tupper\tnumflags\tenum\tdefault")
for m in re.finditer(r"(create\w+Config)\((.*?)\),\s*(?:/\*.*?\*/)?\s*\n", body):
    kind, args = m.group(1), [a.strip() for a in re.split(r",(?![^(]*\))", m.group(2))]
    name = args[0].strip('"')
    alias = "" if args[1] == "NULL" else args[1].strip('"')
    flags = ",".join(sorted(f.strip().replace("_CONFIG", "").lower() for f in args[2].split("|")))
    lower = upper = numflags = enum = ""
    if kind == "createBoolConfig":
        typ = "bool"
    elif kind in ("createStringConfig", "createSDSConfig"):
        typ = "string"
    elif kind == "createEnumConfig":
        typ = "enum"
        enum = ",".join(enums[args[3]])
    elif kind == "createSpecialConfig":
        typ = "special"
    else:
        typ = "unsigned" if kind in unsigned else "signed"
        lower, upper = str(num(args[3])), str(num(args[4]))
        numflags = ",".join(sorted(f.strip().replace("_CONFIG", "").lower() for f in args[7].split("|")))
    if name in defaults:
        default = defaults[name]
    elif typ == "bool":
        default = "yes" if args[4] == "1" else "no"
    elif typ in ("signed", "unsigned"):
        default = str(num(args[6]))
    else:
        default = ""
    print("\t".join([name, alias, typ, flags, lower, upper, numflags, enum, default]))
