#!/usr/bin/env python3
"""Draws the benchmark chart (PNG) from a bench/bench.py CSV: throughput and server CPU per
request for each workload and server (medians of the runs), one row of panels per mode, and
memory per item when measured. Workloads a server answered with errors are marked "err".

Usage: python3 bench/chart.py results.csv chart.png   (needs matplotlib; bench/setup.sh
installs it).
"""

import csv
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SERVERS = [("tessera", "tessera", "#d62728"), ("redis", "Redis 7.0", "#1f77b4"),
           ("valkey", "Valkey 8.0", "#2ca02c")]
MODES = [("per-core", "per core (server on CPU 0, client on CPU 1)"),
         ("whole-machine", "whole machine (tessera all shards, Redis/Valkey io-threads 2)")]


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def medians(rows, mode):
    """{(workload label, server): (rps, cpu_us) or 'err'} and the ordered workload labels."""
    groups, order = {}, []
    for r in rows:
        if r["kind"] != "throughput" or r["mode"] != mode:
            continue
        label = "%s\nd=%s P=%s" % (r["workload"].replace(" (10 keys)", ""), r["value_bytes"],
                                   r["pipeline"])
        if label not in order:
            order.append(label)
        groups.setdefault((label, r["server"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        if len(ok) != len(rs) or not ok:
            out[key] = "err"
        else:
            out[key] = (statistics.median(float(r["rps"]) for r in ok),
                        statistics.median(float(r["cpu_us_per_req"]) for r in ok))
    return out, order


def bars(ax, order, data, servers, index, ylabel, title):
    width = 0.8 / max(1, len(servers))
    for i, (sid, name, color) in enumerate(servers):
        xs, ys, errs = [], [], []
        for j, label in enumerate(order):
            v = data.get((label, sid))
            x = j + (i - (len(servers) - 1) / 2) * width
            if v == "err":
                errs.append(x)
            elif v is not None:
                xs.append(x)
                ys.append(v[index])
        ax.bar(xs, ys, width, label=name, color=color)
        for x in errs:
            ax.text(x, 0, "err", rotation=90, ha="center", va="bottom", fontsize=6, color=color)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(order, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)


def main(csv_path, png_path):
    rows = load(csv_path)
    present = {r["server"] for r in rows if r["status"] == "ok"}
    servers = [s for s in SERVERS if s[0] in present]
    missing = [name for sid, name, _ in SERVERS
               if sid not in present and any(r["server"] == sid for r in rows)]
    modes = [(m, t) for m, t in MODES if any(r["mode"] == m for r in rows)]
    mem = [r for r in rows if r["kind"] == "memory" and r["status"] == "ok"]
    nrows = 2 * len(modes) + (1 if mem else 0)
    if nrows == 0:
        sys.exit("chart: nothing to draw")
    widest = max([len(medians(rows, m)[1]) for m, _ in modes] + [4])
    fig, axes = plt.subplots(nrows, 1, figsize=(max(8, 0.75 * widest + 2), 3.2 * nrows),
                             squeeze=False)
    k = 0
    for mode, title in modes:
        data, order = medians(rows, mode)
        bars(axes[k][0], order, data, servers, 0, "requests/s", "Throughput, " + title)
        axes[k][0].legend(fontsize=8)
        k += 1
        bars(axes[k][0], order, data, servers, 1, "server CPU us / request",
             "CPU per request (lower is better), " + title)
        k += 1
    if mem:
        ax = axes[k][0]
        structures = []
        for r in rows:
            if r["kind"] == "memory" and r["workload"] not in structures:
                structures.append(r["workload"])
        width = 0.8 / max(1, len(servers))
        for i, (sid, name, color) in enumerate(servers):
            xs, ys = [], []
            for j, st in enumerate(structures):
                for r in mem:
                    if r["server"] == sid and r["workload"] == st:
                        xs.append(j + (i - (len(servers) - 1) / 2) * width)
                        ys.append(float(r["bytes_per_item_rss"]))
            ax.bar(xs, ys, width, label=name, color=color)
        ax.set_xticks(range(len(structures)))
        ax.set_xticklabels([s + (" (per key)" if s == "string" else " (per element)")
                            for s in structures], fontsize=8)
        ax.set_ylabel("bytes (RSS)")
        ax.set_title("Memory per item (lower is better)", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    if missing:
        fig.suptitle("not measured (unavailable or unsupported): " + ", ".join(missing),
                     fontsize=9, color="#d62728")
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
