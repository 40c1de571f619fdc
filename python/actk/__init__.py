"""actk: fused activation kernels (CUDA, with a double-precision CPU path) for PyTorch.

    import actk
    y = actk.nn.functional.gelu(x)        # instead of torch.nn.functional.gelu(x)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), actk.nn.GELU())

libactk is found through ACTK_LIBRARY, the source tree's build folder, or an installed prefix
(actk.library_path() says which). With PyTorch >= 2.4 the ops are also torch.library custom ops,
so torch.compile traces through them.
"""
from ._lib import ActkError, cuda_available, library_path
from ._lib import version as _version
from ._lib import _load

_load()  # at import: a missing libactk is an ImportError naming every place it looked
from . import nn  # noqa: E402
from . import _compile  # noqa: E402,F401  (registers torch.library ops where PyTorch has them)

__version__ = "0.1.0"
__all__ = ["nn", "ActkError", "cpu_simd", "cuda_available", "library_path", "library_version", "op_names"]


def library_version():
    """The loaded libactk's version string."""
    return _version()


def cpu_simd():
    """The instruction set of libactk's CPU loops in this process: "AVX-512", "AVX2" or "portable"
    (ACTK_CPU_SIMD=0 or avx2 in the environment caps it; the results are the same)."""
    return _load().actk_cpu_simd().decode()


def op_names():
    """The names of every op of actk's list (for nn.functional.activation)."""
    from . import _lib

    return list(_lib.op_infos())
