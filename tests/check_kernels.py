#!/usr/bin/env python3
"""What the compiler can prove about the kernels' speed without a GPU (CI, ctest label "static").

For each PTX file (kernels compiled for compute_90), ptxas -v for sm_90 gives every kernel's
registers, stack frame and spills, and the PTX itself shows its global loads and stores:
  - no kernel spills registers or has a stack frame (local memory), except those in EXCEPTIONS,
    each with its reason and a ceiling in bytes;
  - every vectorized kernel (VECTOR_KERNELS) moves its data with 16-byte global loads and stores
    (ld/st.global.v4.b32, or .v2.b64 for double): a change that silently loses vectorization fails;
  - no element-wise or attention-softmax kernel for float or 16-bit data does double-precision
    arithmetic (no .f64 instruction), except those in F64_EXCEPTIONS: FP64 runs at half the FP32 rate on an H100 and
    at 1/64 on consumer GPUs, so double math inside a float kernel caps it below the copy speed.
Prints a table of registers per kernel family (the occupancy each allows is the kernel's budget:
255 registers at most; 64 per thread for 2 blocks of 512 threads per SM, 32 for 2048 threads).

  check_kernels.py --ptxas /usr/local/cuda/bin/ptxas file.ptx [file.ptx ...]
"""
import argparse
import re
import subprocess
import sys
from collections import defaultdict

# The known exceptions (the first that matches applies): kernel name (demangled, substrings, all must match) -> (the most bytes of
# stack frame / spills allowed, why). Anything else with a stack frame or a spill fails, and so
# does one of these growing. Measured 2026-11-26 (CUDA 13.0 ptxas, sm_90).
EXCEPTIONS = [
    (("gated_vec<actk::ops::Sine", "bfloat16, true>"), 96,
     "gated backward with sine takes sinf and cosf of 8 gates per vector: two Payne-Hanek local arrays, and ptxas "
     "spills 44 bytes around those slow paths (measured 2026-11-26, CUDA 13.0)"),
    (("bias_bwd_dbias<actk::ops::Sine", "bfloat16, true>"), 48,
     "cosf's Payne-Hanek local array, plus 16 bytes spilled beside 8 double dbias accumulators per thread"),
    (("bias_bwd_dbias<", "bfloat16, true>"), 8,
     "8 double dbias accumulators per thread (vectors of 8 bfloat16) beside the op's math: ptxas spills 8 bytes "
     "in exponential and selu (measured 2026-11-26, CUDA 13.0)"),
    (("actk::ops::Sine",), 32, "sinf/cosf reduce |x| > 105615 by Payne-Hanek with a small local array (that path only)"),
    (("softmax_slice_",), 32,
     "__launch_bounds__(512, 2) caps the slice kernels at 64 registers; some variants spill 4-28 bytes"),
]


# element-wise kernels for float / 16-bit data allowed to contain .f64 instructions, and why
F64_EXCEPTIONS = [
    ("actk::ops::Sine", "libdevice's sinf/cosf reduce |x| > 105615 with double arithmetic (that path only)"),
]


def exception_for(name):
    for subs, limit, why in EXCEPTIONS:
        if all(s in name for s in subs):
            return limit, why
    return 0, None
# kernels that must use 16-byte global loads and stores (demangled name substrings)
VECTOR_KERNELS = [("elementwise_vec_kernel",), ("bias_vec",), ("gated_vec",), ("softmax_slice_fwd",), ("softmax_slice_bwd",),
                  ("bias_bwd_dbias<", "true>"), ("attention_softmax_fwd<float, 4>",), ("attention_softmax_fwd<double, 2>",),
                  ("attention_softmax_fwd<", ", 8>")]


def demangle(names):
    try:
        out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True).stdout
        return out.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return names


def family(name):
    m = re.search(r"(actk::detail::|actk::detail::\(anonymous namespace\)::|\(anonymous namespace\)::)?([a-z_0-9]+)<", name)
    return m.group(2) if m else name.split("(")[0]


def entries(ptx_text):
    """mangled entry name -> its PTX body"""
    out = {}
    parts = re.split(r"\n\s*(?:\.visible\s+)?\.entry\s+", ptx_text)
    for p in parts[1:]:
        name = re.match(r"([A-Za-z0-9_$]+)", p).group(1)
        out[name] = p
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ptxas", required=True)
    ap.add_argument("ptx", nargs="+")
    args = ap.parse_args()
    args.ptx = [p for a in args.ptx for p in a.split(";") if p]  # CMake passes $<TARGET_OBJECTS> as one list
    failures = []
    regs_by_family = defaultdict(list)
    checked_vec = 0
    checked_f64 = 0
    total = 0
    excepted = set()
    for path in args.ptx:
        text = open(path).read()
        body = entries(text)
        r = subprocess.run([args.ptxas, "-arch=sm_90", "-v", path, "-o", "/dev/null"], capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"{path}: ptxas failed: {r.stderr[-500:]}")
            continue
        info = {}
        cur = None
        # ptxas -v names a kernel ("Compiling entry function 'X'" / "Function properties for X"),
        # then reports its stack/spills and its registers on the following lines
        for line in r.stderr.splitlines():
            m = re.search(r"(?:Function properties for |Compiling entry function ')([^'\s]+)", line)
            if m:
                cur = m.group(1)
                info.setdefault(cur, {})
                continue
            m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
            if m and cur:
                info[cur].update(stack=int(m.group(1)), spill_st=int(m.group(2)), spill_ld=int(m.group(3)))
            m = re.search(r"Used (\d+) registers", line)
            if m and cur:
                info[cur]["regs"] = int(m.group(1))
        kernels = [k for k in info if k in body]
        names = dict(zip(kernels, demangle(kernels)))
        for k in kernels:
            d, name = info[k], names[k]
            total += 1
            regs_by_family[family(name)].append(d.get("regs", -1))
            limit, why = exception_for(name)
            worst = max(d.get("spill_st", 0), d.get("spill_ld", 0), d.get("stack", 0))
            if worst > limit:
                failures.append(f"spills or local memory: {name[:160]}: stack {d.get('stack', 0)} bytes, spill stores "
                                f"{d.get('spill_st', 0)}, loads {d.get('spill_ld', 0)} (allowed: {limit})")
            elif worst > 0:
                excepted.add(why)
            # the storage type is the element-wise kernels' last template argument, the attention kernel's first
            if ("elementwise_" in name and ", double>" not in name) or (
                    "attention_softmax_fwd<" in name and "attention_softmax_fwd<double" not in name):
                checked_f64 += 1
                f64 = re.findall(r"^\s*([a-z]+(?:\.[a-z0-9]+)*\.f64)\b", body[k], re.M)
                allowed = [why for sub, why in F64_EXCEPTIONS if sub in name]
                if f64 and not allowed:
                    failures.append(f"double-precision arithmetic in a float kernel ({len(f64)} instructions, e.g. "
                                    f"{f64[0]}): {name[:160]}")
                elif f64:
                    excepted.add(allowed[0])
            if any(all(part in name for part in v) for v in VECTOR_KERNELS):
                checked_vec += 1
                b = body[k]
                # 16 bytes: four 32-bit words (float, packed 16-bit pairs) or two 64-bit ones (double)
                v16 = r"\.global(\.[a-z]+)*\.(v4\.[bfsu]32|v2\.[bfsu]64)\b"
                if not re.search(r"ld" + v16, b) or not re.search(r"st" + v16, b):
                    failures.append(f"no 16-byte global load/store (ld/st.global.v4.b32 or .v2.b64): {name[:160]}")
    print(f"{total} kernels in {len(args.ptx)} PTX files; {checked_vec} vectorized kernels checked for 16-byte access; "
          f"{checked_f64} float / 16-bit element-wise kernels checked for double arithmetic")
    print("| kernel family | kernels | registers min | max |")
    print("|---|---|---|---|")
    for fam, regs in sorted(regs_by_family.items()):
        print(f"| {fam} | {len(regs)} | {min(regs)} | {max(regs)} |")
    for why in sorted(excepted):
        print(f"allowed exception seen: {why}")
    if total == 0:
        failures.append("no kernels found: the PTX or ptxas output format changed")
    if checked_f64 == 0:
        failures.append("no float element-wise kernels found to check for double arithmetic")
    if checked_vec == 0:
        failures.append("no vectorized kernels found to check")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
