#!/usr/bin/env python3
"""actk against PyTorch on the very same tensors: eager (torch.nn.functional, autograd for the
backward) and torch.compile where it exists, for every activation and softmax/log-softmax,
forward and backward.

For each op, dtype and size it first checks that actk's output agrees with the exact answer (the
same PyTorch expression in float64 on the widened inputs; float32: 1e-4, 16-bit: 2^-7, relative
to 1 + |exact|) and records PyTorch's own error against it, then times each with CUDA events (on a
GPU) or perf_counter (on the CPU), median of many runs, and reports GB/s for the bytes each call
must move (2 tensors forward, 3 backward). Writes compare.json, compare.md and PNG plots.
The fused ops (bias_gelu, bias_silu: y = f(x + b) with dbias; swiglu, geglu on one [rows, 2 cols]
tensor, gate first) are compared with PyTorch eager's composition (separate kernels) and with
torch.compile's fusion of it; cross-entropy (mean) with F.cross_entropy.

  /usr/bin/python3 bench/compare_torch.py --lib build/default/libactk.so --device auto --out OUTDIR
  /usr/bin/python3 bench/compare_torch.py --device cpu --quick --out build/compare   # what CI runs

Needs torch (Debian: python3-torch) and matplotlib (python3-matplotlib). Exits 1 if any output
disagrees. Loads actk through its C ABI with the actk package's loader (python/actk), and times
the raw C calls (no autograd wrapper in the timed path).
"""
import argparse
import ctypes
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {"float32": (torch.float32, 0), "float64": (torch.float64, 1), "float16": (torch.float16, 2),
          "bfloat16": (torch.bfloat16, 3)}


def load_lib(path):
    """libactk through the actk package's loader (python/actk/_lib.py: ctypes, every C ABI entry
    point declared): `path`, else where the package looks (ACTK_LIBRARY, build/default, build/cpu,
    installed prefixes)."""
    if path is not None:
        os.environ["ACTK_LIBRARY"] = os.path.abspath(path)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    from actk import _lib  # the source tree's package (or an installed one of the same version)
    try:
        lib = _lib._load()
    except ImportError as e:
        sys.exit(f"compare_torch: {e}")
    return lib, lib._actk_path


def check(lib, status):
    if status != 0:
        raise RuntimeError(lib.actk_last_error().decode())


def sparse_plus(x):
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x >= 1, x, (x + 1) ** 2 / 4))


# actk op -> the PyTorch expression of the same function (defaults as actk's)
TORCH = {
    "identity": lambda x: x * 1,
    "linear": lambda x: 1.0 * x,
    "binary_step": lambda x: (x >= 0).to(x.dtype) + 0 * x,
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu, "relu6": F.relu6,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "prelu": lambda x: F.prelu(x, torch.full((1,), 0.25, dtype=x.dtype, device=x.device)),
    "elu": F.elu, "selu": F.selu, "celu": F.celu, "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x), "silu": F.silu,
    "swish": lambda x: x * torch.sigmoid(x), "mish": F.mish,
    "softplus": lambda x: F.softplus(x, beta=1, threshold=20), "softsign": F.softsign, "exponential": torch.exp,
    "log_sigmoid": F.logsigmoid, "hardtanh": F.hardtanh, "hardsigmoid": F.hardsigmoid, "hardswish": F.hardswish,
    "softshrink": lambda x: F.softshrink(x, 0.5), "hardshrink": lambda x: F.hardshrink(x, 0.5),
    "tanhshrink": F.tanhshrink, "threshold": lambda x: F.threshold(x, 0.0, 0.0),
    "squareplus": lambda x: 0.5 * (x + torch.sqrt(x * x + 4)), "squared_relu": lambda x: F.relu(x) ** 2,
    "sparse_plus": sparse_plus, "sine": torch.sin,
}

# Ops whose backward PyTorch's autograd computes from the saved output (derivatives.yaml: sigmoid,
# tanh, exp, relu take `result`): actk is timed on its backward from the output there too (the
# same three tensors moved, the formula a training loop that saves y would call), and its backward
# from the input is recorded beside it (actk_from_input_GBps).
TORCH_BACKWARD_FROM_OUTPUT = {"sigmoid", "tanh", "exponential", "relu"}

# fused ops: name -> (kind, actk op, PyTorch's composition: eager runs it as separate kernels)
FUSED = {
    "bias_gelu": ("bias", "gelu", lambda x, b: F.gelu(x + b)),
    "bias_silu": ("bias", "silu", lambda x, b: F.silu(x + b)),
    "swiglu": ("gated", "silu", lambda g, v: F.silu(g) * v),
    "geglu": ("gated", "gelu", lambda g, v: F.gelu(g) * v),
}
FUSED_COLS = 1024  # the hidden size of the fused cases: [n / 1024, 1024] (gated inputs [rows, 2048])


class Timer:
    def __init__(self, device, reps):
        self.device, self.reps = device, reps

    def median(self, fn):
        fn()  # warm-up
        if self.device == "cuda":
            torch.cuda.synchronize()
            times = []
            for _ in range(self.reps):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                b.synchronize()
                times.append(a.elapsed_time(b) * 1e-3)
            return statistics.median(times)
        times = []
        for _ in range(self.reps):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)


def try_ref(fn):
    try:
        return fn()
    except (RuntimeError, NotImplementedError) as e:
        print(f"  (PyTorch: {str(e).splitlines()[0][:120]})")
        return None


def agree(a, b, dtype):
    a, b = a.double(), b.double()
    tol = 1e-4 if dtype in ("float32", "float64") else 2 ** -7
    both_nan = torch.isnan(a) & torch.isnan(b)
    err = ((a - b).abs() - tol * (1 + b.abs())).masked_fill(both_nan, -1)
    worst = float(err.max()) if err.numel() else -1.0
    return worst <= 0, float(((a - b).abs() / (1 + b.abs())).nan_to_num(0).max()) if a.numel() else 0.0


def time_calls(rec, calls, nbytes, timer):
    """rec[key + "_GBps"] for each (key, call): a peer that fails is reported, never dropped silently."""
    for key, call in calls:
        if call is None:
            rec[key + "_GBps"] = None
            continue
        try:
            rec[key + "_GBps"] = nbytes / timer.median(call) * 1e-9
        except Exception as e:
            rec[key + "_GBps"] = None
            rec[key + "_error"] = str(e).splitlines()[0][:200]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--out", default="build/compare")
    ap.add_argument("--quick", action="store_true", help="few sizes and repeats (CI)")
    ap.add_argument("--ops", help="comma-separated subset")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--no-plots", action="store_true", help="JSON and Markdown only (plot later with --plot-from)")
    ap.add_argument("--plot-from", metavar="JSON", help="only redraw the plots (and compare.md) from a saved compare.json")
    ap.add_argument("--sizes", help="comma-separated element counts (default: the device's list)")
    ap.add_argument("--dtypes", help="comma-separated subset of float32,float64,bfloat16,float16")
    ap.add_argument("--softmax-cols", help="comma-separated row lengths for softmax (default: the device's list)")
    ap.add_argument("--threads", type=int, help="CPU threads for PyTorch and actk alike (default: every CPU this "
                    "process may run on; PyTorch's own default can be fewer, 1 on CI's 2-core box)")
    ap.add_argument("--softmax-total", type=int, help="elements per softmax case (default: 2^26 on a GPU, 2^20 on the CPU)")
    args = ap.parse_args()
    if args.plot_from:
        saved = json.load(open(args.plot_from))
        os.makedirs(args.out, exist_ok=True)
        write_markdown(os.path.join(args.out, "compare.md"), saved["meta"], saved["results"])
        plot(args.out, saved["results"])
        return 0
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    lib, path = load_lib(args.lib)
    from actk import _lib as alib  # op_info: which ops have a backward from the output
    os.makedirs(args.out, exist_ok=True)
    # One thread count for both: actk's OpenMP and PyTorch's share libgomp, and set_num_threads
    # sets it for this (the calling) thread, which both libraries' parallel regions start from.
    threads = args.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    torch.set_num_threads(threads)
    if device == "cuda":
        sizes, dtypes, reps = [1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 26], ["float32", "bfloat16", "float16"], 50
        sm_total, sm_cols = 1 << 26, [32, 128, 512, 1024, 2048, 4096, 16384, 65536, 262144]
    else:
        sizes, dtypes, reps = [1 << 12, 1 << 16, 1 << 20], ["float32", "bfloat16"], 10
        sm_total, sm_cols = 1 << 20, [32, 256, 1024, 4096, 65536]
    if args.quick:
        sizes, dtypes, reps, sm_total, sm_cols = [1 << 12, 1 << 16], ["float32", "bfloat16"], 5, 1 << 16, [32, 1024, 8192]
    if args.sizes:
        sizes = [int(v) for v in args.sizes.split(",")]
    if args.dtypes:
        dtypes = args.dtypes.split(",")
        unknown = [d for d in dtypes if d not in DTYPES]
        if unknown:
            sys.exit(f"compare_torch: unknown dtype(s) {unknown}; known: {list(DTYPES)}")
    if args.softmax_cols:
        sm_cols = [int(v) for v in args.softmax_cols.split(",")]
    if args.softmax_total:
        sm_total = args.softmax_total
    ops = args.ops.split(",") if args.ops else list(TORCH) + ["softmax", "log_softmax"] + list(FUSED) + ["cross_entropy", "attention_softmax"]
    # cross-entropy [rows, vocab]: issue #17's shapes on a GPU
    ce_shapes = ([(4096, 32000), (4096, 128256), (1024, 262144)] if device == "cuda" else [(64, 32000)])
    # attention softmax [batch, heads, q, k]: issue #17's shape on a GPU
    att_dims = (8, 16, 2048, 2048) if device == "cuda" else (1, 2, 256, 1024)
    if args.quick:
        ce_shapes = [(16, 1000)]
        att_dims = (1, 2, 32, 128)
    att_shapes = [(att_dims, "causal"), (att_dims, "additive")]
    has_compile = hasattr(torch, "compile") and not args.no_compile
    timer = Timer(device, reps)
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream) if device == "cuda" else None
    gen = torch.Generator(device="cpu").manual_seed(0)
    print(f"actk {lib.actk_version().decode()} ({path}) vs PyTorch {torch.__version__} on {device}"
          f"{' (' + torch.cuda.get_device_name() + ')' if device == 'cuda' else ''}; torch.compile "
          f"{'on' if has_compile else 'not available (torch < 2.0) or off'}; {threads} CPU thread(s)", flush=True)
    def sh(cmd):
        try:
            import subprocess
            return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip() or None
        except Exception:
            return None
    meta = {"actk": lib.actk_version().decode(), "torch": torch.__version__, "device": device,
            "gpu": torch.cuda.get_device_name() if device == "cuda" else None,
            "driver": sh(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]) if device == "cuda" else None,
            "commit": os.environ.get("ACTK_COMMIT") or sh(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse", "--short", "HEAD"]),
            "date": time.strftime("%Y-%m-%d"), "compile": has_compile, "threads": threads,
            "cpu_simd": lib.actk_cpu_simd().decode() if hasattr(lib, "actk_cpu_simd") and device == "cpu" else None}
    records, failures = [], []
    total_cases = len(ops) * len(dtypes) * 2
    done = 0
    fused_sizes = [n for n in sizes if n >= FUSED_COLS * 4] or [FUSED_COLS * 4]
    for op_index, op in enumerate(ops):
        if op_index > 0:  # what finished so far survives a timeout
            save(args.out, meta, records)
        shaped = {"cross_entropy": (ce_case, ce_shapes), "attention_softmax": (attention_case, att_shapes)}
        if op in shaped:  # the training kernels: one case function, a list of shapes
            case, shapes = shaped[op]
            for dname in dtypes:
                for direction in ("forward", "backward"):
                    done += 1
                    bad = case(lib, dname, direction, shapes, device, stream, gen, timer, has_compile, records)
                    failures += bad
                    print(f"[{done}/{total_cases}] {op} {dname} {direction}: {'DISAGREE' if bad else 'ok'}", flush=True)
            continue
        if op in FUSED:
            for dname in dtypes:
                for direction in ("forward", "backward"):
                    done += 1
                    bad = fused_case(lib, op, dname, direction, fused_sizes, device, stream, gen, timer, has_compile, records)
                    failures += bad
                    print(f"[{done}/{total_cases}] {op} {dname} {direction}: {'DISAGREE' if bad else 'ok'}", flush=True)
            continue
        is_sm = op in ("softmax", "log_softmax")
        op_id = ctypes.c_int(-1)
        if not is_sm:
            check(lib, lib.actk_op_from_name(op.encode(), ctypes.byref(op_id)))
        fn = (lambda x: F.log_softmax(x, dim=-1)) if op == "log_softmax" else (
            (lambda x: F.softmax(x, dim=-1)) if op == "softmax" else TORCH[op])
        compiled = torch.compile(fn) if has_compile else None
        for dname in dtypes:
            tdt, code = DTYPES[dname]
            for direction in ("forward", "backward"):
                done += 1
                shapes = [(sm_total // c, c) for c in sm_cols] if is_sm else [(1, n) for n in sizes]
                for rows, cols in shapes:
                    n = rows * cols
                    x = ((torch.rand(rows, cols, generator=gen, dtype=torch.float64) * 12 - 6)).to(tdt)
                    # keep off the kinks (0, +-0.5, +-1, +-3, 6...), where conventions, not accuracy, differ
                    x2 = x.double() * 2  # in double: PyTorch 1.13's CPU has no float16 round
                    x = torch.where(x2 == x2.round(), x.double() + 0.03125, x.double()).to(tdt).to(device)
                    dy = ((torch.rand(rows, cols, generator=gen, dtype=torch.float64) * 2 - 1)).to(tdt).to(device)
                    out = torch.empty_like(x)
                    flags = 1 if op == "log_softmax" else 0
                    if direction == "forward":
                        if is_sm:
                            actk_call = lambda: check(lib, lib.actk_softmax_forward(code, x.data_ptr(), out.data_ptr(), rows, cols, 1, flags, 0, stream))
                        else:
                            actk_call = lambda: check(lib, lib.actk_forward(op_id.value, None, code, x.data_ptr(), out.data_ptr(), n, 0, stream))
                        torch_call = lambda: fn(x)
                        comp_call = (lambda: compiled(x)) if compiled else None
                        actk_call()
                        ref = try_ref(lambda: fn(x))
                        nbytes = 2 * n * x.element_size()
                    else:
                        xr = x.detach().clone().requires_grad_(True)
                        yr = try_ref(lambda: fn(xr))
                        if yr is None:  # PyTorch has no such kernel for this dtype: reported, not compared
                            yr = fn(xr.float()).to(tdt)
                        from_input_call = None
                        if is_sm:
                            y = yr.detach()
                            actk_call = lambda: check(lib, lib.actk_softmax_backward(code, y.data_ptr(), dy.data_ptr(), out.data_ptr(), rows, cols, 1, flags, 0, stream))
                        else:
                            actk_call = lambda: check(lib, lib.actk_backward(op_id.value, None, code, 0, x.data_ptr(), dy.data_ptr(), out.data_ptr(), n, 0, stream))
                            if op in TORCH_BACKWARD_FROM_OUTPUT and alib.op_info(op).has_backward_from_output:
                                from_input_call = actk_call
                                ya = torch.empty_like(x)  # actk's own forward output, as a training loop saves it
                                check(lib, lib.actk_forward(op_id.value, None, code, x.data_ptr(), ya.data_ptr(), n, 0, stream))
                                actk_call = lambda: check(lib, lib.actk_backward(op_id.value, None, code, 1, ya.data_ptr(), dy.data_ptr(), out.data_ptr(), n, 0, stream))
                        torch_call = lambda: torch.autograd.grad(yr, xr, dy, retain_graph=True)
                        comp_call = None
                        if compiled:
                            xc = x.detach().clone().requires_grad_(True)
                            yc = compiled(xc)
                            comp_call = lambda: torch.autograd.grad(yc, xc, dy, retain_graph=True)
                        actk_call()
                        ref = try_ref(lambda: torch_call()[0])
                        nbytes = 3 * n * x.element_size()
                    if device == "cuda":
                        torch.cuda.synchronize()
                    # the exact answer: the same PyTorch expression in float64 on the widened inputs
                    if direction == "forward":
                        exact = fn(x.double())
                    elif is_sm:  # the backward's inputs are (y, dy): exact from the same rounded y
                        y64, g64 = y.double(), dy.double()
                        exact = (g64 - torch.exp(y64) * g64.sum(-1, keepdim=True) if op == "log_softmax"
                                 else y64 * (g64 - (g64 * y64).sum(-1, keepdim=True)))
                    else:
                        x64 = x.double().requires_grad_(True)
                        exact = torch.autograd.grad(fn(x64), x64, dy.double())[0]
                    ok, err = agree(out, exact, dname)
                    torch_err = agree(ref, exact, dname)[1] if ref is not None else None
                    rec = {"op": op, "dtype": dname, "direction": direction, "rows": rows, "cols": cols, "n": n,
                           "bytes": nbytes, "agree": ok, "max_rel_err": err, "torch_max_rel_err": torch_err}
                    if direction == "backward" and not is_sm:
                        rec["actk_from"] = "input" if from_input_call is None else "output"
                    time_calls(rec, (("actk", actk_call), ("torch", torch_call), ("compile", comp_call)), nbytes, timer)
                    if direction == "backward" and from_input_call is not None:
                        time_calls(rec, (("actk_from_input", from_input_call),), nbytes, timer)
                    records.append(rec)
                    if ok is False:
                        failures.append(f"{op}/{dname}/{direction}/n={n}: actk max rel err {err:.3g} vs float64")
                print(f"[{done}/{total_cases}] {op} {dname} {direction}: "
                      f"{'DISAGREE' if any(r['agree'] is False for r in records if r['op'] == op and r['dtype'] == dname and r['direction'] == direction) else 'ok'}",
                      flush=True)
    save(args.out, meta, records)
    if not args.no_plots:
        plot(args.out, records)
    print(open(os.path.join(args.out, "compare.md")).read())
    if failures:
        print(f"{len(failures)} case(s) where actk and PyTorch disagree:\n  " + "\n  ".join(failures[:30]))
        return 1
    return 0


def fused_case(lib, op, dname, direction, sizes, device, stream, gen, timer, has_compile, records):
    """One fused op (bias + activation, or gated) in one dtype and direction at every size: actk's
    single call vs PyTorch eager's composition (its separate kernels) and torch.compile's fusion,
    accuracy against float64 first. Returns the disagreements."""
    kind, act, fn = FUSED[op]
    tdt, code = DTYPES[dname]
    op_id = ctypes.c_int(-1)
    check(lib, lib.actk_op_from_name(act.encode(), ctypes.byref(op_id)))
    compiled = torch.compile(fn) if has_compile else None
    failures = []
    for n in sizes:
        rows, cols = n // FUSED_COLS, FUSED_COLS
        def rnd(*shape, lo=-4.0, hi=4.0):
            return (torch.rand(*shape, generator=gen, dtype=torch.float64) * (hi - lo) + lo).to(tdt).to(device)
        dy = rnd(rows, cols, lo=-1, hi=1)
        esz = dy.element_size()
        if kind == "bias":
            a, b = rnd(rows, cols), rnd(cols, lo=-1, hi=1)
            args64 = (a.double(), b.double())
        else:  # one [rows, 2 cols] tensor, gate first
            t = rnd(rows, 2 * cols)
            a, b = t[:, :cols], t[:, cols:]
            args64 = (a.double(), b.double())
        y = torch.empty(rows, cols, dtype=tdt, device=device)
        if direction == "forward":
            if kind == "bias":
                actk_call = lambda: check(lib, lib.actk_bias_act_forward(op_id.value, None, code, a.data_ptr(), b.data_ptr(), y.data_ptr(),
                                                                         rows, cols, None, 1.0, 0.0, 0, stream))
                nbytes = 2 * n * esz + cols * esz
            else:
                actk_call = lambda: check(lib, lib.actk_gated_forward(op_id.value, None, code, a.data_ptr(), b.data_ptr(), 2 * cols,
                                                                      y.data_ptr(), rows, cols, 1.0, 0.0, 0, stream))
                nbytes = 3 * n * esz
            actk_call()
            # the same result from two unfused actk calls (forward only): what fusing saves
            ident = ctypes.c_int(-1)
            check(lib, lib.actk_op_from_name(b"identity", ctypes.byref(ident)))
            tmp = torch.empty(rows, cols, dtype=tdt, device=device)
            if kind == "bias":
                def unfused_call():
                    check(lib, lib.actk_bias_act_forward(ident.value, None, code, a.data_ptr(), b.data_ptr(), tmp.data_ptr(),
                                                         rows, cols, None, 1.0, 0.0, 0, stream))
                    check(lib, lib.actk_forward(op_id.value, None, code, tmp.data_ptr(), y.data_ptr(), n, 0, stream))
            else:  # contiguous [rows, cols] gate and value: one in_stride (cols) serves both
                gate_c, value_c = a.contiguous(), b.contiguous()
                def unfused_call():
                    check(lib, lib.actk_forward(op_id.value, None, code, gate_c.data_ptr(), tmp.data_ptr(), n, 0, stream))
                    check(lib, lib.actk_gated_forward(ident.value, None, code, tmp.data_ptr(), value_c.data_ptr(), cols,
                                                      y.data_ptr(), rows, cols, 1.0, 0.0, 0, stream))
            outs = [y]
            exact = [fn(*args64)]
            ref = try_ref(lambda: [fn(a, b)])
            torch_call = lambda: fn(a, b)
            comp_call = (lambda: compiled(a, b)) if compiled else None
        else:
            unfused_call = None
            d1 = torch.empty_like(a) if kind == "bias" else torch.empty(rows, 2 * cols, dtype=tdt, device=device)
            if kind == "bias":
                db = torch.empty(cols, dtype=tdt, device=device)
                actk_call = lambda: check(lib, lib.actk_bias_act_backward(op_id.value, None, code, a.data_ptr(), b.data_ptr(), dy.data_ptr(),
                                                                          d1.data_ptr(), db.data_ptr(), rows, cols, 1.0, 0.0, 0, stream, None, 0))
                nbytes = 3 * n * esz + 2 * cols * esz
                actk_call()
                outs = [d1, db]
            else:
                actk_call = lambda: check(lib, lib.actk_gated_backward(op_id.value, None, code, a.data_ptr(), b.data_ptr(), 2 * cols, dy.data_ptr(),
                                                                       d1.data_ptr(), d1[:, cols:].data_ptr(), rows, cols, 1.0, 0.0, 0, stream))
                nbytes = 5 * n * esz
                actk_call()
                outs = [d1[:, :cols], d1[:, cols:]]
            a64, b64 = (v.detach().clone().requires_grad_(True) for v in args64)
            exact = list(torch.autograd.grad(fn(a64, b64), (a64, b64), dy.double()))
            if kind == "bias":
                ar, br = a.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
            else:
                tr = t.detach().clone().requires_grad_(True)
                ar, br = tr[:, :cols], tr[:, cols:]
            yr = try_ref(lambda: fn(ar, br))
            wrt = (ar, br) if kind == "bias" else (tr,)
            torch_call = (lambda: torch.autograd.grad(yr, wrt, dy, retain_graph=True)) if yr is not None else None
            ref = None
            if torch_call is not None:
                g = try_ref(torch_call)
                ref = None if g is None else (list(g) if kind == "bias" else [g[0][:, :cols], g[0][:, cols:]])
            comp_call = None
            if compiled:
                if kind == "bias":
                    ac, bc = a.detach().clone().requires_grad_(True), b.detach().clone().requires_grad_(True)
                    wc = (ac, bc)
                else:
                    tc = t.detach().clone().requires_grad_(True)
                    ac, bc, wc = tc[:, :cols], tc[:, cols:], (tc,)
                yc = compiled(ac, bc)
                comp_call = lambda: torch.autograd.grad(yc, wc, dy, retain_graph=True)
        if device == "cuda":
            torch.cuda.synchronize()
        oks, errs = zip(*(agree(o, e, dname) for o, e in zip(outs, exact)))
        ok, err = all(oks), max(errs)
        torch_err = max(agree(r, e, dname)[1] for r, e in zip(ref, exact)) if ref is not None else None
        rec = {"op": op, "dtype": dname, "direction": direction, "rows": rows, "cols": cols, "n": n, "bytes": nbytes,
               "agree": ok, "max_rel_err": err, "torch_max_rel_err": torch_err, "fused": True}
        time_calls(rec, (("actk", actk_call), ("actk_unfused", unfused_call), ("torch", torch_call), ("compile", comp_call)),
                   nbytes, timer)
        records.append(rec)
        if not ok:
            failures.append(f"{op}/{dname}/{direction}/n={n}: actk max rel err {err:.3g} vs float64")
    return failures


def grad_calls(fn, compiled, x, extra, g):
    """PyTorch eager's and torch.compile's backward of fn(x, extra) for the output gradient g, each
    graph built once (None where the op or torch.compile is missing)."""
    xr = x.detach().clone().requires_grad_(True)
    yr = try_ref(lambda: fn(xr, extra))
    torch_call = (lambda: torch.autograd.grad(yr, xr, g, retain_graph=True)) if yr is not None else None
    comp_call = None
    if compiled:
        xc = x.detach().clone().requires_grad_(True)
        yc = compiled(xc, extra)
        comp_call = lambda: torch.autograd.grad(yc, xc, g, retain_graph=True)
    return torch_call, comp_call


def finish_case(rec, outs, exact, ref, calls, nbytes, timer, device, dname, records, failures, label):
    """Accuracy against float64 (actk's, and PyTorch's own where it ran), then the timings; the
    record joins `records`, a disagreement `failures`."""
    if device == "cuda":
        torch.cuda.synchronize()
    oks, errs = zip(*(agree(o, e, dname) for o, e in zip(outs, exact)))
    rec.update(agree=all(oks), max_rel_err=max(errs),
               torch_max_rel_err=max(agree(r, e, dname)[1] for r, e in zip(ref, exact)) if ref is not None else None)
    time_calls(rec, calls, nbytes, timer)
    records.append(rec)
    if not rec["agree"]:
        failures.append(f"{label}: actk max rel err {rec['max_rel_err']:.3g} vs float64")


def ce_case(lib, dname, direction, shapes, device, stream, gen, timer, has_compile, records):
    """Cross-entropy (mean, PyTorch's defaults) over [rows, vocab] logits: actk's one call vs
    F.cross_entropy eager (log_softmax + nll_loss) and torch.compile, accuracy against float64
    first. Bytes: the logits read forward; read and the gradient written backward."""
    from actk import _lib as alib
    tdt, code = DTYPES[dname]
    fn = lambda x, t: F.cross_entropy(x, t)
    compiled = torch.compile(fn) if has_compile else None
    failures = []
    for rows, vocab in shapes:
        n = rows * vocab
        x = (torch.randn(rows, vocab, generator=gen, dtype=torch.float64) * 3).to(tdt).to(device)
        t = torch.randint(0, vocab, (rows,), generator=gen).to(device)
        loss = torch.empty((), dtype=tdt, device=device)
        lse = torch.empty(rows, dtype=torch.float32, device=device)
        esz = x.element_size()
        fwd = lambda: check(lib, lib.actk_cross_entropy_forward(code, x.data_ptr(), alib.INT64, t.data_ptr(), loss.data_ptr(),
                                                                lse.data_ptr(), rows, vocab, None, 0, stream))
        fwd()
        if direction == "forward":
            actk_call, nbytes = fwd, n * esz
            torch_call = lambda: fn(x, t)
            comp_call = (lambda: compiled(x, t)) if compiled else None
            outs, exact = [loss], [fn(x.double(), t)]
            ref = try_ref(lambda: [fn(x, t)])
        else:
            dl = torch.ones((), dtype=tdt, device=device)
            g = torch.empty_like(x)
            actk_call = lambda: check(lib, lib.actk_cross_entropy_backward(code, x.data_ptr(), alib.INT64, t.data_ptr(), dl.data_ptr(),
                                                                           lse.data_ptr(), g.data_ptr(), rows, vocab, None, 0, stream))
            actk_call()
            nbytes = 2 * n * esz
            torch_call, comp_call = grad_calls(fn, compiled, x, t, dl)
            x64 = x.double().requires_grad_(True)
            outs, exact = [g], [torch.autograd.grad(fn(x64, t), x64)[0]]
            ref = None if torch_call is None else try_ref(lambda: [torch_call()[0]])
        rec = {"op": "cross_entropy", "dtype": dname, "direction": direction, "rows": rows, "cols": vocab, "n": n, "bytes": nbytes}
        finish_case(rec, outs, exact, ref, (("actk", actk_call), ("torch", torch_call), ("compile", comp_call)), nbytes, timer,
                    device, dname, records, failures, f"cross_entropy/{dname}/{direction}/{rows}x{vocab}")
    return failures


def attention_case(lib, dname, direction, shapes, device, stream, gen, timer, has_compile, records):
    """Attention-style softmax over [batch, heads, q, k] at scale 1/sqrt(128): causal, and with an
    additive [q, k] mask (broadcast over batch and heads); actk's one call vs torch.softmax(scale * x
    + mask) eager (the causal mask a precomputed [q, k] -inf tensor, as training code keeps it) and
    torch.compile, accuracy against float64 first. Bytes: x read and y written forward; y and dy
    read and dx written backward (a causal actk row reads x only up to its limit)."""
    from actk import _lib as alib
    tdt, code = DTYPES[dname]
    failures = []
    scale = 128 ** -0.5
    for (B, H, Q, K), kind in shapes:
        n = B * H * Q * K
        x = (torch.randn(B, H, Q, K, generator=gen, dtype=torch.float64) * 3).to(tdt).to(device)
        if kind == "causal":
            i = torch.arange(Q).view(Q, 1)
            j = torch.arange(K).view(1, K)
            mask = torch.zeros(Q, K, dtype=torch.float64).masked_fill(j > i, float("-inf")).to(tdt).to(device)
        else:
            mask = torch.randn(Q, K, generator=gen, dtype=torch.float64).to(tdt).to(device)
        fn = lambda a, m: torch.softmax(a * scale + m, -1)
        compiled = torch.compile(fn) if has_compile else None
        opts = alib.AttentionSoftmaxOptions(scale, alib.MASK_NONE if kind == "causal" else alib.MASK_ADDITIVE,
                                            None if kind == "causal" else mask.data_ptr(), 1, 1, 0, 1 if kind == "causal" else 0,
                                            0, 0)
        y = torch.empty_like(x)
        fwd = lambda: check(lib, lib.actk_attention_softmax_forward(code, x.data_ptr(), y.data_ptr(), B, H, Q, K,
                                                                    ctypes.byref(opts), 0, stream))
        fwd()
        esz = x.element_size()
        if direction == "forward":
            actk_call, nbytes = fwd, 2 * n * esz
            torch_call = lambda: fn(x, mask)
            comp_call = (lambda: compiled(x, mask)) if compiled else None
            outs, exact = [y], [fn(x.double(), mask.double())]
            ref = try_ref(lambda: [fn(x, mask)])
        else:
            dy = (torch.randn(B, H, Q, K, generator=gen, dtype=torch.float64)).to(tdt).to(device)
            dx = torch.empty_like(x)
            actk_call = lambda: check(lib, lib.actk_attention_softmax_backward(code, y.data_ptr(), dy.data_ptr(), dx.data_ptr(), B, H,
                                                                               Q, K, scale, 0, 0, stream))
            actk_call()
            nbytes = 3 * n * esz
            torch_call, comp_call = grad_calls(fn, compiled, x, mask, dy)
            x64 = x.double().requires_grad_(True)
            outs, exact = [dx], [torch.autograd.grad(fn(x64, mask.double()), x64, dy.double())[0]]
            ref = None if torch_call is None else try_ref(lambda: [torch_call()[0]])
        rec = {"op": f"attention_softmax_{kind}", "dtype": dname, "direction": direction, "rows": B * H * Q, "cols": K, "n": n,
               "shape": f"{B}x{H}x{Q}x{K}", "bytes": nbytes}
        finish_case(rec, outs, exact, ref, (("actk", actk_call), ("torch", torch_call), ("compile", comp_call)), nbytes, timer,
                    device, dname, records, failures, f"attention_softmax_{kind}/{dname}/{direction}/{B}x{H}x{Q}x{K}")
    return failures


def fmt(v):
    return "-" if v is None else f"{v:.1f}"


def save(outdir, meta, records):
    with open(os.path.join(outdir, "compare.json"), "w") as f:
        json.dump({"meta": meta, "results": records}, f, indent=1)
    write_markdown(os.path.join(outdir, "compare.md"), meta, records)


def write_markdown(path, meta, records):
    where = meta["gpu"] or ("the CPU" + (f", {meta['threads']} threads" if meta.get("threads") else "") +
                            (f", actk's {meta['cpu_simd']} loops" if meta.get("cpu_simd") else ""))
    lines = [f"# actk vs PyTorch {meta['torch']} on {where} ({meta['date']}, actk commit "
             f"{meta['commit']}{', driver ' + meta['driver'] if meta['driver'] else ''})", "",
             "GB/s for the bytes each call must move (median of repeated runs); speedup = actk / eager; "
             "err = max |out - exact| / (1 + |exact|), exact = float64 on the same inputs. \"backward (from y)\": "
             "PyTorch's autograd computes it from the saved output, so actk's backward from the output is timed (its "
             "backward from the input: actk_from_input_GBps in compare.json).", "",
             "| op | dtype | direction | n (rows x cols) | actk GB/s | eager GB/s | compile GB/s | actk/eager | actk err | eager err |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        sp = r["actk_GBps"] / r["torch_GBps"] if r["actk_GBps"] and r["torch_GBps"] else None
        shape = r["shape"] if "shape" in r else f"{r['rows']}x{r['cols']}" if r["op"].endswith("softmax") or r.get("fused") or r["op"] == "cross_entropy" else str(r["n"])
        direction = r["direction"] + (" (from y)" if r.get("actk_from") == "output" else "")
        lines.append(f"| {r['op']} | {r['dtype']} | {direction} | {shape} | {fmt(r['actk_GBps'])} | "
                     f"{fmt(r['torch_GBps'])} | {fmt(r['compile_GBps'])} | {'-' if sp is None else f'{sp:.2f}x'} | "
                     f"{r['max_rel_err']:.1e}{'' if r['agree'] else ' (NO)'} | "
                     f"{'-' if r['torch_max_rel_err'] is None else format(r['torch_max_rel_err'], '.1e')} |")
    speed = [r["actk_GBps"] / r["torch_GBps"] for r in records if r["actk_GBps"] and r["torch_GBps"]]
    if speed:
        lines += ["", f"actk / eager over {len(speed)} cases: median {statistics.median(speed):.2f}x, "
                      f"min {min(speed):.2f}x, max {max(speed):.2f}x"]
    fused = [r for r in records if r.get("fused") and r["actk_GBps"] and r["torch_GBps"]]
    if fused:
        big = max(r["n"] for r in fused)
        def ratio(r, key):
            return f"{r['actk_GBps'] / r[key]:.2f}x" if r.get(key) else "-"
        lines += ["", f"Fused ops at n = {big} (GB/s counted for the fused call's bytes in every column): "
                      "actk's one call vs PyTorch eager's separate kernels, vs torch.compile, and vs two unfused "
                      "actk calls (forward)", "",
                  "| op | dtype | direction | actk/eager | actk/compile | fused/unfused actk |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['op']} | {r['dtype']} | {r['direction']} | {ratio(r, 'torch_GBps')} | {ratio(r, 'compile_GBps')} | "
                  f"{ratio(r, 'actk_unfused_GBps')} |" for r in fused if r["n"] == big]
    open(path, "w").write("\n".join(lines) + "\n")


def ratio_chart(plt, outdir, records):
    """compare_ratios.png: one horizontal bar per op and direction, actk's speed over PyTorch eager's
    (and torch.compile's) at the largest size measured (softmax: the longest rows), per dtype; 1.0
    is parity. The per-size panels (compare_<kind>.png) keep the detail."""
    best = {}
    for r in records:
        size = r["cols"] if r["op"].endswith("softmax") else r["n"]
        k = (r["op"], r["direction"], r["dtype"])
        if r.get("actk_GBps") and r.get("torch_GBps") and (k not in best or size >= best[k][0]):
            best[k] = (size, r)
    if not best:
        return
    dtypes = sorted({k[2] for k in best})
    labels = sorted({(k[0], k[1]) for k in best})
    fig, axes = plt.subplots(1, len(dtypes), figsize=(5.5 * len(dtypes), 0.28 * len(labels) + 1.6), squeeze=False,
                             sharey=True)
    for ax, dt in zip(axes.flat, dtypes):
        ys = list(range(len(labels)))
        eager = [best[(o, d, dt)][1]["actk_GBps"] / best[(o, d, dt)][1]["torch_GBps"] if (o, d, dt) in best else float("nan")
                 for o, d in labels]
        comp = [best[(o, d, dt)][1]["actk_GBps"] / best[(o, d, dt)][1]["compile_GBps"]
                if (o, d, dt) in best and best[(o, d, dt)][1].get("compile_GBps") else float("nan") for o, d in labels]
        ax.barh([y - 0.2 for y in ys], eager, height=0.4, label="actk / eager")
        ax.barh([y + 0.2 for y in ys], comp, height=0.4, label="actk / torch.compile")
        ax.axvline(1.0, color="k", linewidth=0.8)
        ax.set_xscale("log", base=2)
        ax.set_title(dt, fontsize=9)
        ax.set_yticks(ys)
        ax.set_yticklabels([f"{o} {d}" for o, d in labels], fontsize=7)
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=7)
    axes.flat[0].legend(fontsize=7, loc="lower right")
    fig.supxlabel("speed ratio at the largest size (> 1: actk faster)", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "compare_ratios.png"), dpi=90)
    plt.close(fig)


def plot(outdir, records):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not available: no plots")
        return
    ratio_chart(plt, outdir, records)
    def kind_of(r):  # cross-entropy and attention (one shape each) are in the ratio chart and the table only
        if r["op"] == "cross_entropy" or r["op"].startswith("attention_"):
            return None
        return "fused" if r.get("fused") else ("softmax" if r["op"].endswith("softmax") else "activations")
    for kind in ("activations", "softmax", "fused"):
        recs = [r for r in records if kind_of(r) == kind]
        if not recs:
            continue
        keys = sorted({(r["op"], r["direction"]) for r in recs})
        ncols = 6
        nrows = math.ceil(len(keys) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
        for ax, (op, d) in zip(axes.flat, keys):
            for dt in sorted({r["dtype"] for r in recs}):
                rs = sorted((r for r in recs if r["op"] == op and r["direction"] == d and r["dtype"] == dt),
                            key=lambda r: r["cols"] if kind == "softmax" else r["n"])
                xs = [r["cols"] if kind == "softmax" else r["n"] for r in rs]
                for key, style in (("actk", "-"), ("torch", "--"), ("compile", ":")):
                    ys = [r[key + "_GBps"] or float("nan") for r in rs]
                    ax.plot(xs, ys, style, marker=".", label=f"{key} {dt}")
            ax.set_xscale("log", base=2)
            ax.set_title(f"{op} {d}", fontsize=8)
            ax.tick_params(labelsize=6)
        for ax in list(axes.flat)[len(keys):]:
            ax.axis("off")
        axes.flat[0].legend(fontsize=5)
        fig.supxlabel("row length (cols)" if kind == "softmax" else "elements")
        fig.supylabel("GB/s")
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, f"compare_{kind}.png"), dpi=80)
        plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
