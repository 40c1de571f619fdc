#!/usr/bin/env python3
"""Summarizes actk_bench's JSON: per dtype and direction, % of the device-to-device copy at 2^26
elements (min / median / max over ops, and the slowest op), and the same at every size for the
worst op. Prints Markdown. Usage: bench_summary.py bench.json"""
import json
import statistics
import sys
from collections import defaultdict


def load(path):
    """The JSON; a file cut short (the benchmark killed by a stage's timeout mid-write) is closed
    after its last complete benchmark record, and says so."""
    text = open(path).read()
    try:
        return json.loads(text), False
    except json.JSONDecodeError:
        cut = text.rfind("\n    }")
        if cut < 0:
            raise
        return json.loads(text[:cut + 6] + "\n  ]\n}\n"), True


def main(path):
    data, cut = load(path)
    if cut:
        print(f"(bench.json was cut short, by the stage's timeout: the {len(data.get('benchmarks', []))} records before the cut)")
        print()
    rows = [b for b in data.get("benchmarks", []) if "pct_of_copy" in b]
    if not rows:
        cpu = [b for b in data.get("benchmarks", []) if b.get("name", "").startswith("cpu/")]
        print(f"(no GPU rows: {len(cpu)} CPU benchmarks; % of copy is measured on a GPU only)")
        return
    ctx = data.get("context", {})
    print(f"GPU benchmark ({len(rows)} cases, {ctx.get('date', '')}): % of a device-to-device copy of the same bytes")
    print()
    by = defaultdict(list)
    other = defaultdict(list)
    sm = defaultdict(list)
    for b in rows:
        kind = b["name"].split("/")[0]
        if kind != "gpu":  # the peers (gpu-cudnn/, gpu-cub/, ...) and targeted/ cases: listed apart
            other[kind].append(b)
            continue
        _, op, direction, dtype, n = b["name"].split("/")[:5]
        if n.startswith("cols="):
            total = b["name"].split("/")[5] if b["name"].count("/") >= 5 else "n=2^26"
            sm[(op, direction, dtype, total)].append((int(n[5:]), b["pct_of_copy"], b.get("GBps", 0)))
            continue
        by[(dtype, direction, int(n))].append((b["pct_of_copy"], op, b.get("GBps", 0)))
    print("| dtype | direction | n | min % (op) | median % | max % | median GB/s |")
    print("|---|---|---|---|---|---|---|")
    for (dtype, direction, n), v in sorted(by.items()):
        if n != 1 << 26:
            continue
        v.sort()
        print(f"| {dtype} | {direction} | 2^26 | {v[0][0]:.1f} ({v[0][1]}) | {statistics.median(x[0] for x in v):.1f} | "
              f"{v[-1][0]:.1f} | {statistics.median(x[2] for x in v):.0f} |")
    below = sorted((p, op, dt, d) for (dt, d, n), v in by.items() if n == 1 << 26 for p, op, _ in v if p < 90)
    if sm:
        print()
        print("Softmax: % of copy over row lengths 32..262144 at rows * cols = n (min at cols / max)")
        print()
        print("| op | direction | dtype | n | min % (cols) | max % | cols below 90% |")
        print("|---|---|---|---|---|---|---|")
        for (op, direction, dtype, total), v in sorted(sm.items()):
            v.sort()
            lo = min(v, key=lambda t: t[1])
            bad = [str(c) for c, p, _ in v if p < 90]
            print(f"| {op} | {direction} | {dtype} | {total[2:]} | {lo[1]:.1f} ({lo[0]}) | {max(p for _, p, _ in v):.1f} | {' '.join(bad) or '-'} |")
    for kind, v in sorted(other.items()):
        print()
        print(f"{kind}: % of copy per case")
        print()
        print("| case | % of copy | GB/s |")
        print("|---|---|---|")
        for r in v:
            name = r["name"][len(kind) + 1:].replace("/manual_time", "")
            print(f"| {name} | {r['pct_of_copy']:.1f} | {r.get('GBps', 0):.0f} |")
    print()
    print(f"actk cases at 2^26 below 90% of copy: {len(below)}" + (": " + ", ".join(f"{op}/{d}/{dt} {p:.0f}%" for p, op, dt, d in below[:12]) if below else ""))


if __name__ == "__main__":
    main(sys.argv[1])
