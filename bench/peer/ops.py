#!/usr/bin/env python3
"""Top ops (self CPU ms per step, share of the profiled self CPU time) from finetune.py --profile files.
Usage: bench/peer/ops.py PROFILE.txt... [--top N]"""
import json
import sys

args = sys.argv[1:]
top = 10
if "--top" in args:
    i = args.index("--top")
    top = int(args[i + 1])
    del args[i:i + 2]
for path in args:
    with open(path, encoding="utf-8") as f:
        f.readline()
        j = json.loads(f.readline())
    total = j["self_cpu_ms_per_step"]
    ops = ", ".join(f"{o['op'].replace('aten::', '')} {o['self_ms_per_step']:.1f} ({100 * o['self_ms_per_step'] / total:.0f}%)"
                    for o in j["ops"][:top])
    print(f"| {path.rsplit('/', 1)[-1]} | {j['wall_ms_per_step']:.1f} | {ops} |")
