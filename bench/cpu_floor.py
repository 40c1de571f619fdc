#!/usr/bin/env python3
"""How close to PyTorch the CPU path's double math lets each case come (issue #18).

For every element-wise, softmax and log-softmax case of a compare_torch.py CPU run (its
compare.json), this times actk's own call on the same op, dtype and direction (and backward
variant) on data that stays in cache, on one thread (OMP_NUM_THREADS=1, 2^14 elements; softmax:
rows of the case's length), less the cost of a call on one element (ctypes, validation,
dispatch), so the time is the loop's arithmetic alone: the functor in double, the conversions,
the rounding, no DRAM traffic and no threads. Scaled to the case's element count on the run's
threads (perfect scaling assumed: generous), PyTorch's time for the case divided by it is the
best torch/actk ratio that actk's loop, computing as it does (in double), allows there. Per case
it prints the measured ratio, that bound and a verdict:

  compute-bound  the bound itself is below 0.5: actk's loop in cache (the double math, the
                 conversions, the rounding) costs more than twice PyTorch's whole call, so no
                 memory or threading change reaches 0.5x; only cheaper arithmetic would (for
                 ops with transcendental math, bench/NOTES.md has libmvec's per-value cost);
  overhead       the bound is at or above 0.5 but the measured ratio is not: memory traffic,
                 threads, per-row work: room left for the loops;
  ok             the measured ratio is at least 0.5.

  /usr/bin/python3 bench/cpu_floor.py --json bench/results/cpu-2026-11-27/compare.json \\
      --lib build/cpu --out bench/results/cpu-2026-11-27/floor.md

PyTorch is not run here: its times are compare.json's (same machine, same run). Needs torch only
for the tensors.
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", required=True, help="compare.json of a compare_torch.py run on the CPU")
    ap.add_argument("--lib", help="libactk (file or build folder); default: where the actk package looks")
    ap.add_argument("--threads", type=int, help="threads the compare run used (default: its meta.threads)")
    ap.add_argument("--elements", type=int, default=1 << 14, help="in-cache elements per timed call")
    ap.add_argument("--out", help="also write the table here (Markdown)")
    args = ap.parse_args()

    os.environ["OMP_NUM_THREADS"] = "1"  # before libgomp starts: one thread, the arithmetic alone
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch
    from compare_torch import DTYPES, check, load_lib

    torch.set_num_threads(1)
    lib, path = load_lib(args.lib)
    data = json.load(open(args.json))
    if data["meta"].get("device") != "cpu":
        sys.exit("cpu_floor: the JSON is not from a CPU run")
    args.threads = args.threads or data["meta"].get("threads")
    if not args.threads:
        sys.exit("cpu_floor: the JSON does not say how many threads its run used: give --threads")

    def per_element(call, n):
        call()
        reps = max(1, int(2e-3 / max(time_once(call), 1e-7)))  # ~2 ms per sample
        samples = []
        for _ in range(7):
            t = time.perf_counter()
            for _ in range(reps):
                call()
            samples.append((time.perf_counter() - t) / reps)
        return min(samples) / n

    def time_once(call):
        t = time.perf_counter()
        call()
        return time.perf_counter() - t

    gen = torch.Generator().manual_seed(3)
    rows_out = []
    for r in data["results"]:
        op, dname, direction = r["op"], r["dtype"], r["direction"]
        if dname not in DTYPES or r.get("torch_GBps") is None or r.get("actk_GBps") is None:
            continue
        is_sm = op in ("softmax", "log_softmax")
        if not is_sm and r["rows"] != 1:
            continue  # fused and shaped ops: not covered here
        tdt, code = DTYPES[dname]
        from_out = 1 if r.get("actk_from") == "output" else 0  # the variant compare_torch timed

        def make_call(rows, cols):
            """actk's call for this case on a [rows, cols] tensor (element-wise: rows * cols elements)."""
            n = rows * cols
            x = (torch.rand(rows, cols, generator=gen, dtype=torch.float64) * 12 - 6).to(tdt)
            dy = (torch.rand(rows, cols, generator=gen, dtype=torch.float64) * 2 - 1).to(tdt)
            out = torch.empty_like(x)
            flags = 1 if op == "log_softmax" else 0
            keep = [x, dy, out]
            if is_sm:
                y = torch.log_softmax(x.float(), -1).to(tdt) if flags else torch.softmax(x.float(), -1).to(tdt)
                keep.append(y)
                if direction == "forward":
                    return keep, lambda: check(lib, lib.actk_softmax_forward(code, x.data_ptr(), out.data_ptr(), rows, cols, 1, flags, 0, None))
                return keep, lambda: check(lib, lib.actk_softmax_backward(code, y.data_ptr(), dy.data_ptr(), out.data_ptr(), rows, cols, 1, flags, 0, None))
            op_id = ctypes.c_int(-1)
            check(lib, lib.actk_op_from_name(op.encode(), ctypes.byref(op_id)))
            if direction == "forward":
                return keep, lambda: check(lib, lib.actk_forward(op_id.value, None, code, x.data_ptr(), out.data_ptr(), n, 0, None))
            src = x
            if from_out:
                src = torch.empty_like(x)
                keep.append(src)
                check(lib, lib.actk_forward(op_id.value, None, code, x.data_ptr(), src.data_ptr(), n, 0, None))
            return keep, lambda: check(lib, lib.actk_backward(op_id.value, None, code, from_out, src.data_ptr(), dy.data_ptr(),
                                                              out.data_ptr(), n, 0, None))

        cols = r["cols"] if is_sm else args.elements
        rows = max(1, args.elements // cols) if is_sm else 1
        n = rows * cols
        _, call = make_call(rows, cols)
        _, tiny = make_call(1, 1)  # the per-call cost (ctypes, validation, dispatch), taken off
        ns = max(per_element(call, n) - per_element(tiny, 1) / n, 0.0) * 1e9
        torch_s = r["bytes"] / (r["torch_GBps"] * 1e9)
        actk_s = r["bytes"] / (r["actk_GBps"] * 1e9)
        floor_s = ns * 1e-9 * r["n"] / args.threads
        measured, bound = torch_s / actk_s, torch_s / floor_s
        verdict = "ok" if measured >= 0.5 else ("compute-bound" if bound < 0.5 else "overhead")
        shape = f"{r['rows']}x{r['cols']}" if is_sm else str(r["n"])
        rows_out.append((op, dname, direction, shape, torch_s * 1e3, actk_s * 1e3, floor_s * 1e3, ns, measured, bound, verdict))
        print(f"{op} {dname} {direction} {shape}: {ns:.2f} ns/element in cache, ratio {measured:.2f}, bound {bound:.2f}: {verdict}",
              flush=True)

    lines = [f"# The double math's floor on the CPU ({data['meta'].get('date')}, actk commit {data['meta'].get('commit')}, "
             f"PyTorch {data['meta'].get('torch')})", "",
             f"From {args.json}: actk's call timed in cache on one thread ({args.elements} elements; softmax rows of the "
             f"case's length), scaled to the case on {args.threads} threads. bound = PyTorch's time / that floor: the best "
             "torch/actk ratio computing in double allows. compute-bound: bound < 0.5; overhead: bound >= 0.5 > measured.", "",
             "| op | dtype | direction | n | torch ms | actk ms | floor ms | ns/element (1 thread, in cache) | torch/actk | bound | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in rows_out:
        lines.append("| " + " | ".join([t[0], t[1], t[2], t[3], f"{t[4]:.2f}", f"{t[5]:.2f}", f"{t[6]:.2f}", f"{t[7]:.2f}",
                                         f"{t[8]:.2f}", f"{t[9]:.2f}", t[10]]) + " |")
    counts = {v: sum(1 for t in rows_out if t[10] == v) for v in ("ok", "overhead", "compute-bound")}
    lines += ["", f"{len(rows_out)} cases: {counts['ok']} ok (>= 0.5x), {counts['overhead']} overhead, "
              f"{counts['compute-bound']} compute-bound; min measured {min(t[8] for t in rows_out):.2f}x" if rows_out else "no cases"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
