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
__all__ = ["nn", "ActkError", "cuda_available", "library_path", "library_version", "op_names"]


def library_version():
    """The loaded libactk's version string."""
    return _version()


def op_names():
    """The names of every op of actk's list (for nn.functional.activation)."""
    from . import _lib

    return list(_lib.op_infos())
