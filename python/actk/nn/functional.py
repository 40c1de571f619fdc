"""actk.nn.functional: actk's activations with PyTorch's names and parameters.

Swap `torch.nn.functional.gelu(x)` for `actk.nn.functional.gelu(x)`: same arguments, same
defaults, autograd included. float32, float64, float16 and bfloat16; CPU tensors run actk's CPU
path (double precision, rounded once), CUDA tensors its kernels on the current stream.
Non-contiguous inputs are copied to contiguous ones first; in-place forms (inplace=True) need a
contiguous tensor.
"""
import torch

from .._autograd import AttentionSoftmax, BiasAct, ClampedSwiglu, ClampedSwigluInterleaved, CrossEntropy, Elementwise, Gated, Prelu, Softmax
from .._compile import compiling

__all__ = ["attention_softmax", "cross_entropy", "clamped_swiglu", "activation", "identity", "binary_step", "sigmoid", "tanh", "relu", "relu6", "leaky_relu", "elu", "selu",
           "celu", "gelu", "quick_gelu", "silu", "swish", "mish", "softplus", "softsign", "exponential", "logsigmoid",
           "log_sigmoid", "hardtanh", "hardsigmoid", "hardswish", "softshrink", "hardshrink", "tanhshrink", "threshold",
           "squareplus", "squared_relu", "sparse_plus", "sine", "prelu", "softmax", "log_softmax", "bias_act", "gated",
           "glu", "swiglu", "geglu", "reglu"]


def activation(x, name, p0=None, p1=None, inplace=False):
    """Any op of actk's list by its name (actk.op_names()), with up to two parameters (None: the
    op's default)."""
    if compiling():  # torch.compile traces the torch.library op (PyTorch >= 2.4)
        y = torch.ops.actk.activation(x, name, p0, p1)
        return x.copy_(y) if inplace else y
    return Elementwise.apply(x, name, p0, p1, inplace)


def identity(x):
    return activation(x, "identity")


def binary_step(x):
    return activation(x, "binary_step")


def sigmoid(x):
    return activation(x, "sigmoid")


def tanh(x):
    return activation(x, "tanh")


def relu(x, inplace=False):
    return activation(x, "relu", inplace=inplace)


def relu6(x, inplace=False):
    return activation(x, "relu6", inplace=inplace)


def leaky_relu(x, negative_slope=0.01, inplace=False):
    return activation(x, "leaky_relu", negative_slope, inplace=inplace)


def elu(x, alpha=1.0, inplace=False):
    return activation(x, "elu", alpha, inplace=inplace)


def selu(x, inplace=False):
    return activation(x, "selu", inplace=inplace)


def celu(x, alpha=1.0, inplace=False):
    return activation(x, "celu", alpha, inplace=inplace)


def gelu(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"actk: gelu's approximate is 'none' or 'tanh', not {approximate!r}")
    return activation(x, "gelu" if approximate == "none" else "gelu_tanh")


def quick_gelu(x):
    """x * sigmoid(1.702 x) (CLIP's approximation)."""
    return activation(x, "quick_gelu")


def silu(x, inplace=False):
    return activation(x, "silu", inplace=inplace)


def swish(x, beta=1.0):
    """x * sigmoid(beta x)."""
    return activation(x, "swish", beta)


def mish(x, inplace=False):
    return activation(x, "mish", inplace=inplace)


def softplus(x, beta=1.0, threshold=20.0):
    return activation(x, "softplus", beta, threshold)


def softsign(x):
    return activation(x, "softsign")


def exponential(x):
    """e^x."""
    return activation(x, "exponential")


def logsigmoid(x):
    return activation(x, "log_sigmoid")


log_sigmoid = logsigmoid


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    return activation(x, "hardtanh", min_val, max_val, inplace=inplace)


def hardsigmoid(x, inplace=False):
    return activation(x, "hardsigmoid", inplace=inplace)


def hardswish(x, inplace=False):
    return activation(x, "hardswish", inplace=inplace)


def softshrink(x, lambd=0.5):
    return activation(x, "softshrink", lambd)


def hardshrink(x, lambd=0.5):
    return activation(x, "hardshrink", lambd)


def tanhshrink(x):
    return activation(x, "tanhshrink")


def threshold(x, threshold, value, inplace=False):
    return activation(x, "threshold", threshold, value, inplace=inplace)


def squareplus(x, b=4.0):
    """(x + sqrt(x^2 + b)) / 2 (Barron 2021)."""
    return activation(x, "squareplus", b)


def squared_relu(x):
    """relu(x)^2 (Primer)."""
    return activation(x, "squared_relu")


def sparse_plus(x):
    return activation(x, "sparse_plus")


def sine(x):
    return activation(x, "sine")


def prelu(x, weight):
    """As torch.nn.functional.prelu: weight has 1 element or one per channel (dimension 1)."""
    if compiling():
        return torch.ops.actk.prelu(x, weight)
    return Prelu.apply(x, weight)


def softmax(x, dim, masked_rows_zero=False):
    """Softmax over `dim`. masked_rows_zero: a row that is entirely -inf gives zeros (not NaN)."""
    if compiling():
        return torch.ops.actk.softmax(x, dim, False, masked_rows_zero)
    return Softmax.apply(x, dim, False, masked_rows_zero)


def log_softmax(x, dim, masked_rows_zero=False):
    if compiling():
        return torch.ops.actk.softmax(x, dim, True, masked_rows_zero)
    return Softmax.apply(x, dim, True, masked_rows_zero)


def bias_act(x, bias, act="gelu", p0=None, p1=None):
    """f(x + bias) in one pass: bias has x.shape[-1] elements (or is None). act: an op name
    ('gelu', 'gelu_tanh', 'silu', 'relu', ...), p0/p1 its parameters."""
    if compiling():
        return torch.ops.actk.bias_act(x, bias, act, p0, p1)
    return BiasAct.apply(x, bias, act, p0, p1)


def gated(x, act="silu", p0=None, p1=None, value_first=False):
    """f(gate) * value over the last dimension of x = [..., 2 cols] (gate first, as Transformer
    Engine; value_first=True: PyTorch's F.glu order). Returns [..., cols]."""
    if compiling():
        return torch.ops.actk.gated(x, act, p0, p1, value_first)
    return Gated.apply(x, act, p0, p1, value_first)


def glu(x, dim=-1):
    """As torch.nn.functional.glu: the first half times sigmoid of the second."""
    if dim not in (-1, x.dim() - 1):
        x = x.movedim(dim, -1)
        return gated(x, "sigmoid", value_first=True).movedim(-1, dim)
    return gated(x, "sigmoid", value_first=True)


def swiglu(x):
    """silu(gate) * value, x = [..., 2 cols] with the gate first."""
    return gated(x, "silu")


def clamped_swiglu(x, alpha=1.702, limit=7.0, interleaved=False):
    """GPT-OSS's clamped SwiGLU over x = [..., 2 cols]: g = min(gate, limit), v = clamp(value,
    -limit, limit), g * sigmoid(alpha * g) * (v + 1); gradients stop where a clamp saturates.
    Gate first; interleaved=True takes gate and value alternating (x[..., ::2], x[..., 1::2], as
    GPT-OSS's checkpoints), read in that layout by the kernels (no copy)."""
    if compiling():
        return torch.ops.actk.clamped_swiglu(x, float(alpha), float(limit), bool(interleaved))
    if interleaved:
        return ClampedSwigluInterleaved.apply(x, alpha, limit)
    return ClampedSwiglu.apply(x, alpha, limit)


def geglu(x, approximate="none"):
    return gated(x, "gelu" if approximate == "none" else "gelu_tanh")


def reglu(x):
    return gated(x, "relu")


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0,
                  softcap=0.0):
    """As torch.nn.functional.cross_entropy for logits [rows, classes] and class-index targets (int64
    or int32), plus z_loss (adds z_loss * logsumexp^2 per counted row, as PaLM) and softcap (logits ->
    softcap * tanh(logits / softcap) first, as Gemma 2; 0 = none). The backward reads the logits once
    more and writes the gradient; nothing [rows, classes] is saved besides the logits."""
    if compiling():
        return torch.ops.actk.cross_entropy(input, target, weight, int(ignore_index), reduction, float(label_smoothing),
                                            float(z_loss), float(softcap))[0]
    return CrossEntropy.apply(input, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap)


def attention_softmax(x, mask=None, scale=1.0, causal=False, causal_offset=0, log=False, masked_rows_zero=False):
    """softmax(scale * x + mask) over the last dimension of x [batch, heads, q, k] (k <= 16384), as
    torch.softmax(scale * x + mask, -1) in one pass. mask: None; torch.bool (True = attend, as
    F.scaled_dot_product_attention's attn_mask); or x's dtype (added after the scale), of shape
    [k] rows broadcastable to x: [q, k] or [mb, mh, mq, k] with each of mb, mh, mq 1 or x's size.
    causal: key j masked when j > i + causal_offset (0: PyTorch's is_causal; k - q: aligned to the
    bottom right). masked_rows_zero: a row with no key left gives zeros (log: -inf), not NaN. The
    backward needs only the output."""
    if compiling():
        from .._autograd import _flags
        return torch.ops.actk.attention_softmax(x, mask, float(scale), bool(causal), int(causal_offset),
                                                _flags(log, masked_rows_zero))
    return AttentionSoftmax.apply(x, mask, scale, causal, causal_offset, log, masked_rows_zero)
