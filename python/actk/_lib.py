"""Loading libactk and calling its C ABI (ctypes: no compiled extension, so any PyTorch from 1.13
to 2.x works without a rebuild).

Where the library is looked for, in order:
  1. the environment variable ACTK_LIBRARY (the file itself, or a folder holding it);
  2. a build folder of the source tree this package sits in (build/default, build/cpu, build);
  3. an installed prefix: sys.prefix/lib, /usr/local/lib, /usr/lib, then the loader's own search.
The error names every place it looked.
"""
import ctypes
import ctypes.util
import os
import sys
import threading

_NAMES = ("libactk.so", "libactk.dylib", "actk.dll")
_lock = threading.Lock()
_lib = None

FLOAT32, FLOAT64, FLOAT16, BFLOAT16 = 0, 1, 2, 3
BACKEND_AUTO, BACKEND_CPU, BACKEND_CUDA = 0, 1, 2
FROM_INPUT, FROM_OUTPUT = 0, 1
SOFTMAX_LOG, SOFTMAX_MASKED_ROWS_ZERO = 1, 2
INT32, INT64 = 0, 1
REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}
_STATUS = {1: "invalid argument", 2: "unknown op", 3: "unsupported", 4: "CUDA error", 5: "internal error"}


class ActkError(RuntimeError):
    """A call into libactk failed; the message is actk's own (actk_last_error)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _candidates():
    tried = []
    env = os.environ.get("ACTK_LIBRARY")
    if env:
        if os.path.isdir(env):
            tried += [os.path.join(env, n) for n in _NAMES]
        else:
            tried.append(env)
        return tried, True  # an explicit choice: nothing else is tried
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))  # <repo>/python/actk -> <repo>
    for b in ("build/default", "build/cpu", "build"):
        tried += [os.path.join(root, b, n) for n in _NAMES]
    for prefix in (os.path.join(sys.prefix, "lib"), "/usr/local/lib", "/usr/lib"):
        tried += [os.path.join(prefix, n) for n in _NAMES]
    return tried, False


def library_path():
    """The path of the libactk that is (or would be) loaded."""
    return _load()._actk_path


def _load():
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried, explicit = _candidates()
        errors = []
        for path in tried:
            if os.path.exists(path):
                try:
                    lib = ctypes.CDLL(path)
                    lib._actk_path = path
                    break
                except OSError as e:
                    errors.append(f"{path}: {e}")
        else:
            lib = None
            found = None if explicit else ctypes.util.find_library("actk")
            if found:
                try:
                    lib = ctypes.CDLL(found)
                    lib._actk_path = found
                except OSError as e:
                    errors.append(f"{found}: {e}")
            if lib is None:
                msg = "actk: libactk not found. Looked in:\n  " + "\n  ".join(tried)
                if not explicit:
                    msg += "\n  the dynamic loader's search path (ctypes.util.find_library('actk'))"
                if errors:
                    msg += "\nFound but could not load:\n  " + "\n  ".join(errors)
                msg += ("\nBuild it (cmake --preset default && cmake --build --preset default), or set ACTK_LIBRARY "
                        "to the file libactk.so or its folder.")
                raise ImportError(msg)
        _declare(lib)
        _lib = lib
        return lib


class CrossEntropyOptions(ctypes.Structure):
    """actk_cross_entropy_options (actk_c.h)."""
    _fields_ = [("reduction", ctypes.c_int), ("ignore_index", ctypes.c_int64), ("label_smoothing", ctypes.c_double),
                ("z_loss", ctypes.c_double), ("softcap", ctypes.c_double), ("weight", ctypes.c_void_p)]


class AttentionSoftmaxOptions(ctypes.Structure):
    """actk_attention_softmax_options (actk_c.h)."""
    _fields_ = [("scale", ctypes.c_double), ("mask_type", ctypes.c_int), ("mask", ctypes.c_void_p),
                ("mask_batch", ctypes.c_int64), ("mask_heads", ctypes.c_int64), ("mask_q", ctypes.c_int64),
                ("causal", ctypes.c_int), ("causal_offset", ctypes.c_int64), ("flags", ctypes.c_uint)]


MASK_NONE, MASK_ADDITIVE, MASK_KEEP = 0, 1, 2


def _declare(lib):
    c_int, c_uint, i64, vp, dbl, sz = ctypes.c_int, ctypes.c_uint, ctypes.c_int64, ctypes.c_void_p, ctypes.c_double, ctypes.c_size_t
    dp = ctypes.POINTER(ctypes.c_double)
    sigs = {
        "actk_forward_ex": [c_int, dp, c_int, vp, vp, i64, c_int, vp, dbl, dbl],
        "actk_backward_ex": [c_int, dp, c_int, c_int, vp, vp, vp, i64, c_int, vp, dbl, dbl],
        "actk_prelu_forward": [c_int, vp, vp, vp, i64, i64, i64, c_int, vp],
        "actk_prelu_backward": [c_int, vp, vp, vp, vp, vp, i64, i64, i64, c_int, vp, vp, sz],
        "actk_softmax_forward_ex": [c_int, vp, vp, i64, i64, i64, c_uint, c_int, vp, dbl, dbl],
        "actk_softmax_backward_ex": [c_int, vp, vp, vp, i64, i64, i64, c_uint, c_int, vp, dbl, dbl],
        "actk_bias_act_forward": [c_int, dp, c_int, vp, vp, vp, i64, i64, vp, dbl, dbl, c_int, vp],
        "actk_bias_act_backward": [c_int, dp, c_int, vp, vp, vp, vp, vp, i64, i64, dbl, dbl, c_int, vp, vp, sz],
        "actk_gated_forward": [c_int, dp, c_int, vp, vp, i64, vp, i64, i64, dbl, dbl, c_int, vp],
        "actk_gated_backward": [c_int, dp, c_int, vp, vp, i64, vp, vp, vp, i64, i64, dbl, dbl, c_int, vp],
        "actk_forward": [c_int, dp, c_int, vp, vp, i64, c_int, vp],
        "actk_backward": [c_int, dp, c_int, c_int, vp, vp, vp, i64, c_int, vp],
        "actk_softmax_forward": [c_int, vp, vp, i64, i64, i64, c_uint, c_int, vp],
        "actk_softmax_backward": [c_int, vp, vp, vp, i64, i64, i64, c_uint, c_int, vp],
        "actk_cross_entropy_forward": [c_int, vp, c_int, vp, vp, vp, i64, i64, ctypes.POINTER(CrossEntropyOptions), c_int, vp],
        "actk_cross_entropy_backward": [c_int, vp, c_int, vp, vp, vp, vp, i64, i64, ctypes.POINTER(CrossEntropyOptions), c_int,
                                        vp],
        "actk_attention_softmax_forward": [c_int, vp, vp, i64, i64, i64, i64, ctypes.POINTER(AttentionSoftmaxOptions), c_int, vp],
        "actk_attention_softmax_backward": [c_int, vp, vp, vp, i64, i64, i64, i64, dbl, c_uint, c_int, vp],
        "actk_clamped_swiglu_interleaved_forward": [c_int, vp, vp, i64, i64, dbl, dbl, c_int, vp, dbl, dbl],
        "actk_clamped_swiglu_interleaved_backward": [c_int, vp, vp, vp, i64, i64, dbl, dbl, c_int, vp, dbl, dbl],
        "actk_clamped_swiglu_forward": [c_int, vp, vp, i64, vp, i64, i64, dbl, dbl, c_int, vp, dbl, dbl],
        "actk_clamped_swiglu_backward": [c_int, vp, vp, i64, vp, vp, vp, i64, i64, dbl, dbl, c_int, vp, dbl, dbl],
        "actk_op_from_name": [ctypes.c_char_p, ctypes.POINTER(c_int)],
    }
    for name, args in sigs.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = c_int
    lib.actk_last_error.restype = ctypes.c_char_p
    lib.actk_version.restype = ctypes.c_char_p
    lib.actk_cpu_simd.restype = ctypes.c_char_p
    lib.actk_cuda_available.restype = c_int


def call(name, *args):
    """Calls actk_<name>; raises ActkError with actk's message on a non-zero status."""
    lib = _load()
    status = getattr(lib, "actk_" + name)(*args)
    if status != 0:
        msg = lib.actk_last_error().decode(errors="replace")
        raise ActkError(status, f"{msg} ({_STATUS.get(status, status)})")


_op_ids = {}


def op_id(name):
    """The C ABI's id of op `name` (cached)."""
    i = _op_ids.get(name)
    if i is None:
        op_info(name)  # ValueError naming the list for an unknown name
        out = ctypes.c_int(-1)
        call("op_from_name", name.encode(), ctypes.byref(out))
        i = _op_ids[name] = out.value
    return i


def params(*values):
    """A double[2] of an op's parameters (None: the default, passed as NaN)."""
    arr = (ctypes.c_double * 2)(float("nan"), float("nan"))
    for k, v in enumerate(values[:2]):
        if v is not None:
            arr[k] = float(v)
    return arr


def version():
    return _load().actk_version().decode()


def cuda_available():
    return bool(_load().actk_cuda_available())


class _Info(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("n_params", ctypes.c_int), ("param_names", ctypes.c_char_p * 2),
                ("param_defaults", ctypes.c_double * 2), ("has_backward_from_output", ctypes.c_int)]


_infos = None


def op_infos():
    """{name: actk_op_info} for every op of the list (read once)."""
    global _infos
    if _infos is None:
        lib = _load()
        lib.actk_op_info_get.argtypes = [ctypes.c_int, ctypes.POINTER(_Info)]
        lib.actk_op_count.restype = ctypes.c_int
        infos = {}
        for i in range(lib.actk_op_count()):
            info = _Info()
            if lib.actk_op_info_get(i, ctypes.byref(info)) == 0:
                infos[info.name.decode()] = info
        _infos = infos
    return _infos


def op_info(name):
    info = op_infos().get(name)
    if info is None:
        raise ValueError(f"actk: no op named {name!r}; the list: {', '.join(op_infos())}")
    return info
