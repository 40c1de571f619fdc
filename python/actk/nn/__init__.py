"""actk.nn: modules mirroring torch.nn's activations (same constructor arguments and defaults),
plus actk's fused and gated ones. Swap torch.nn.GELU() for actk.nn.GELU() and that is the change."""
import torch

from . import functional as F

__all__ = ["Activation", "Sigmoid", "Tanh", "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "QuickGELU",
           "SiLU", "Swish", "Mish", "Softplus", "Softsign", "LogSigmoid", "Hardtanh", "Hardsigmoid", "Hardswish",
           "Softshrink", "Hardshrink", "Tanhshrink", "Threshold", "Squareplus", "SquaredReLU", "PReLU", "Softmax",
           "LogSoftmax", "AttentionSoftmax", "CrossEntropyLoss", "BiasAct", "Gated", "GLU", "SwiGLU", "ClampedSwiGLU", "GEGLU", "ReGLU", "functional"]


class Activation(torch.nn.Module):
    """Any op of actk's list by name, with up to two parameters."""

    def __init__(self, name, p0=None, p1=None):
        super().__init__()
        self.name, self.p0, self.p1 = name, p0, p1

    def forward(self, x):
        return F.activation(x, self.name, self.p0, self.p1)

    def extra_repr(self):
        return ", ".join([repr(self.name)] + [repr(p) for p in (self.p0, self.p1) if p is not None])


def _simple(cls_name, fn, doc):
    def forward(self, x):
        return fn(x)

    return type(cls_name, (torch.nn.Module,), {"forward": forward, "__doc__": doc})


Sigmoid = _simple("Sigmoid", F.sigmoid, "As torch.nn.Sigmoid.")
Tanh = _simple("Tanh", F.tanh, "As torch.nn.Tanh.")
QuickGELU = _simple("QuickGELU", F.quick_gelu, "x * sigmoid(1.702 x).")
Softsign = _simple("Softsign", F.softsign, "As torch.nn.Softsign.")
LogSigmoid = _simple("LogSigmoid", F.logsigmoid, "As torch.nn.LogSigmoid.")
Tanhshrink = _simple("Tanhshrink", F.tanhshrink, "As torch.nn.Tanhshrink.")
SquaredReLU = _simple("SquaredReLU", F.squared_relu, "relu(x)^2.")


class _Inplace(torch.nn.Module):
    _fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return type(self)._fn(x, inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    """As torch.nn.ReLU."""
    _fn = staticmethod(F.relu)


class ReLU6(_Inplace):
    """As torch.nn.ReLU6."""
    _fn = staticmethod(F.relu6)


class SELU(_Inplace):
    """As torch.nn.SELU."""
    _fn = staticmethod(F.selu)


class SiLU(_Inplace):
    """As torch.nn.SiLU."""
    _fn = staticmethod(F.silu)


class Mish(_Inplace):
    """As torch.nn.Mish."""
    _fn = staticmethod(F.mish)


class Hardsigmoid(_Inplace):
    """As torch.nn.Hardsigmoid."""
    _fn = staticmethod(F.hardsigmoid)


class Hardswish(_Inplace):
    """As torch.nn.Hardswish."""
    _fn = staticmethod(F.hardswish)


class LeakyReLU(torch.nn.Module):
    """As torch.nn.LeakyReLU."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(torch.nn.Module):
    """As torch.nn.ELU."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """As torch.nn.CELU."""

    def forward(self, x):
        return F.celu(x, self.alpha, self.inplace)


class GELU(torch.nn.Module):
    """As torch.nn.GELU (approximate='none' or 'tanh')."""

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Swish(torch.nn.Module):
    """x * sigmoid(beta x)."""

    def __init__(self, beta=1.0):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return F.swish(x, self.beta)

    def extra_repr(self):
        return f"beta={self.beta}"


class Softplus(torch.nn.Module):
    """As torch.nn.Softplus."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(torch.nn.Module):
    """As torch.nn.Hardtanh."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class Softshrink(torch.nn.Module):
    """As torch.nn.Softshrink."""

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, x):
        return F.softshrink(x, self.lambd)

    def extra_repr(self):
        return str(self.lambd)


class Hardshrink(Softshrink):
    """As torch.nn.Hardshrink."""

    def forward(self, x):
        return F.hardshrink(x, self.lambd)


class Threshold(torch.nn.Module):
    """As torch.nn.Threshold."""

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, x):
        return F.threshold(x, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class Squareplus(torch.nn.Module):
    """(x + sqrt(x^2 + b)) / 2."""

    def __init__(self, b=4.0):
        super().__init__()
        self.b = b

    def forward(self, x):
        return F.squareplus(x, self.b)

    def extra_repr(self):
        return f"b={self.b}"


class PReLU(torch.nn.Module):
    """As torch.nn.PReLU: num_parameters slopes (1, or the channel count of dimension 1), each
    initialised to `init`, learned."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = torch.nn.Parameter(torch.empty(num_parameters, device=device, dtype=dtype).fill_(init))

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Softmax(torch.nn.Module):
    """As torch.nn.Softmax (dim required here: PyTorch's implicit choice is deprecated)."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """As torch.nn.LogSoftmax."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)


class BiasAct(torch.nn.Module):
    """f(x + bias) in one pass over the last dimension, with a learned bias of `features` values
    (initialised to zero): put it after a torch.nn.Linear(..., bias=False)."""

    def __init__(self, features, act="gelu", p0=None, p1=None, device=None, dtype=None):
        super().__init__()
        self.features, self.act, self.p0, self.p1 = features, act, p0, p1
        self.bias = torch.nn.Parameter(torch.zeros(features, device=device, dtype=dtype))

    def forward(self, x):
        return F.bias_act(x, self.bias, self.act, self.p0, self.p1)

    def extra_repr(self):
        return f"features={self.features}, act={self.act!r}"


class Gated(torch.nn.Module):
    """f(gate) * value over the last dimension [..., 2 cols], gate first; returns [..., cols]."""

    def __init__(self, act="silu", p0=None, p1=None):
        super().__init__()
        self.act, self.p0, self.p1 = act, p0, p1

    def forward(self, x):
        return F.gated(x, self.act, self.p0, self.p1)

    def extra_repr(self):
        return f"act={self.act!r}"


class SwiGLU(Gated):
    """silu(gate) * value, gate first."""

    def __init__(self):
        super().__init__("silu")


class GEGLU(Gated):
    """gelu(gate) * value, gate first."""

    def __init__(self, approximate="none"):
        super().__init__("gelu" if approximate == "none" else "gelu_tanh")


class ReGLU(Gated):
    """relu(gate) * value, gate first."""

    def __init__(self):
        super().__init__("relu")


class GLU(torch.nn.Module):
    """As torch.nn.GLU: first half * sigmoid(second half) along dim."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class CrossEntropyLoss(torch.nn.Module):
    """As torch.nn.CrossEntropyLoss (logits [rows, classes], class-index targets), plus z_loss and
    softcap (see actk.nn.functional.cross_entropy)."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0, softcap=0.0):
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index, self.reduction, self.label_smoothing = ignore_index, reduction, label_smoothing
        self.z_loss, self.softcap = z_loss, softcap

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing, self.z_loss,
                               self.softcap)

    def extra_repr(self):
        parts = [f"reduction={self.reduction!r}"]
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        for k in ("label_smoothing", "z_loss", "softcap"):
            if getattr(self, k):
                parts.append(f"{k}={getattr(self, k)}")
        return ", ".join(parts)


class ClampedSwiGLU(torch.nn.Module):
    """GPT-OSS's clamped SwiGLU (see actk.nn.functional.clamped_swiglu)."""

    def __init__(self, alpha=1.702, limit=7.0, interleaved=False):
        super().__init__()
        self.alpha, self.limit, self.interleaved = alpha, limit, interleaved

    def forward(self, x):
        return F.clamped_swiglu(x, self.alpha, self.limit, self.interleaved)

    def extra_repr(self):
        return f"alpha={self.alpha}, limit={self.limit}" + (", interleaved=True" if self.interleaved else "")


class AttentionSoftmax(torch.nn.Module):
    """softmax(scale * x + mask) over the last dimension of attention scores [batch, heads, q, k]
    (see actk.nn.functional.attention_softmax); forward(x, mask=None)."""

    def __init__(self, scale=1.0, causal=False, causal_offset=0, masked_rows_zero=False):
        super().__init__()
        self.scale, self.causal, self.causal_offset, self.masked_rows_zero = scale, causal, causal_offset, masked_rows_zero

    def forward(self, x, mask=None):
        return F.attention_softmax(x, mask, self.scale, self.causal, self.causal_offset, False, self.masked_rows_zero)

    def extra_repr(self):
        parts = [f"scale={self.scale}"]
        if self.causal:
            parts.append("causal=True" + (f", causal_offset={self.causal_offset}" if self.causal_offset else ""))
        if self.masked_rows_zero:
            parts.append("masked_rows_zero=True")
        return ", ".join(parts)
