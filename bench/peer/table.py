#!/usr/bin/env python3
"""Markdown table of medians (and lth/peer ratios) from compare.sh's results.jsonl."""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
v = defaultdict(list)
for r in rows:
    for field in ("ex_s", "rss_mib", "acc"):
        if r[field] is not None:
            v[(r["kind"], r["mode"], r["precision"], r["tool"], field)].append(float(r[field]))


def med(*key):
    xs = v.get(key)
    return statistics.median(xs) if xs else None


def fmt(x, digits=1):
    return "-" if x is None else f"{x:,.{digits}f}"


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


n = max((len(x) for x in v.values()), default=0)
print(f"| kind | batches | precision | lth ex/s | peer ex/s | **lth/peer** | lth RSS MiB | peer RSS MiB | RSS lth/peer | lth dev acc | peer dev acc |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
seen = []
for r in rows:
    k = (r["kind"], r["mode"] if r["tool"] == "lth" or r["kind"] == "train" else r["mode"], r["precision"])
    if r["kind"] == "train" and k not in seen:
        seen.append(k)
for kind, mode, prec in seen:
    a, b = med(kind, mode, prec, "lth", "ex_s"), med(kind, mode, prec, "peer", "ex_s")
    ra, rb = med(kind, mode, prec, "lth", "rss_mib"), med(kind, mode, prec, "peer", "rss_mib")
    aa, ab = med(kind, mode, prec, "lth", "acc"), med(kind, mode, prec, "peer", "acc")
    print(f"| train | {mode} | {prec} | {fmt(a)} | {fmt(b)} | **{ratio(a, b)}** | {fmt(ra, 0)} | {fmt(rb, 0)} | "
          f"{ratio(ra, rb)} | {fmt(aa, 4)} | {fmt(ab, 4)} |")
for prec in sorted({r["precision"] for r in rows if r["kind"] == "eval"}):
    a, ra = med("eval", "sorted", prec, "lth", "ex_s"), med("eval", "sorted", prec, "lth", "rss_mib")
    for order in ("sorted", "file"):
        b, rb = med("eval", order, prec, "peer", "ex_s"), med("eval", order, prec, "peer", "rss_mib")
        if b is None:
            continue
        label = "same batches (sorted, 128)" if order == "sorted" else "peer in file order (128)"
        print(f"| eval | {label} | {prec} | {fmt(a)} | {fmt(b)} | **{ratio(a, b)}** | {fmt(ra, 0)} | {fmt(rb, 0)} | "
              f"{ratio(ra, rb)} | | |")
print(f"\n(medians of {n} interleaved rounds)")
