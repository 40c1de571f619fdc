"""torch.library custom ops (PyTorch >= 2.4): each actk op as actk::<name> with its fake (meta)
implementation and its autograd formula, so that torch.compile(model, fullgraph=True) traces
through actk without graph breaks. The eager path (the autograd.Functions of _autograd) is used
outside compilation; under torch.compile actk.nn.functional calls these ops instead.

Not exercised by CI: CI has Debian's PyTorch 1.13, where this module registers nothing.
"""
from typing import Optional, Tuple

import torch

from . import _autograd as A

REGISTERED = False


def _version_ok():
    try:
        major, minor = (int(v) for v in torch.__version__.split("+")[0].split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (2, 4) and hasattr(torch.library, "custom_op")


def compiling():
    """True while torch.compile traces (and the custom ops exist)."""
    if not REGISTERED:
        return False
    is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    return bool(is_compiling and is_compiling())


def _register():
    lib = torch.library
    T = torch.Tensor

    # ---- element-wise ----------------------------------------------------------------------
    @lib.custom_op("actk::activation", mutates_args=())
    def activation(x: T, name: str, p0: Optional[float], p1: Optional[float]) -> T:
        return A.act_forward(x, name, p0, p1)

    @activation.register_fake
    def _(x, name, p0, p1):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @lib.custom_op("actk::activation_backward", mutates_args=())
    def activation_backward(t: T, g: T, name: str, p0: Optional[float], p1: Optional[float], from_output: bool) -> T:
        return A.act_backward(t, g, name, p0, p1, from_output)

    @activation_backward.register_fake
    def _(t, g, name, p0, p1, from_output):
        return torch.empty_like(t, memory_format=torch.contiguous_format)

    def act_setup(ctx, inputs, output):
        x, name, p0, p1 = inputs
        ctx.from_output = A._from_output_ok(name, p0)
        ctx.save_for_backward(output if ctx.from_output else x)
        ctx.args = (name, p0, p1)

    def act_grad(ctx, g):
        (t,) = ctx.saved_tensors
        return activation_backward(t, g, *ctx.args, ctx.from_output), None, None, None

    activation.register_autograd(act_grad, setup_context=act_setup)

    # ---- softmax ---------------------------------------------------------------------------
    @lib.custom_op("actk::softmax", mutates_args=())
    def softmax(x: T, dim: int, log: bool, masked_rows_zero: bool) -> T:
        return A.softmax_forward(x, dim, log, masked_rows_zero)

    @softmax.register_fake
    def _(x, dim, log, masked_rows_zero):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @lib.custom_op("actk::softmax_backward", mutates_args=())
    def softmax_backward(y: T, g: T, dim: int, log: bool, masked_rows_zero: bool) -> T:
        return A.softmax_backward(y, g, dim, log, masked_rows_zero)

    @softmax_backward.register_fake
    def _(y, g, dim, log, masked_rows_zero):
        return torch.empty_like(y, memory_format=torch.contiguous_format)

    def sm_setup(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.args = inputs[1:]

    def sm_grad(ctx, g):
        (y,) = ctx.saved_tensors
        return softmax_backward(y, g, *ctx.args), None, None, None

    softmax.register_autograd(sm_grad, setup_context=sm_setup)

    # ---- prelu -----------------------------------------------------------------------------
    @lib.custom_op("actk::prelu", mutates_args=())
    def prelu(x: T, weight: T) -> T:
        return A.prelu_forward(x, weight)

    @prelu.register_fake
    def _(x, weight):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @lib.custom_op("actk::prelu_backward", mutates_args=())
    def prelu_backward(x: T, weight: T, g: T) -> Tuple[T, T]:
        return A.prelu_backward(x, weight, g)

    @prelu_backward.register_fake
    def _(x, weight, g):
        return torch.empty_like(x, memory_format=torch.contiguous_format), torch.empty_like(weight)

    def pr_setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def pr_grad(ctx, g):
        x, w = ctx.saved_tensors
        return prelu_backward(x, w, g)

    prelu.register_autograd(pr_grad, setup_context=pr_setup)

    # ---- bias + activation -----------------------------------------------------------------
    @lib.custom_op("actk::bias_act", mutates_args=())
    def bias_act(x: T, bias: Optional[T], name: str, p0: Optional[float], p1: Optional[float]) -> T:
        return A.bias_act_forward(x, bias, name, p0, p1)

    @bias_act.register_fake
    def _(x, bias, name, p0, p1):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @lib.custom_op("actk::bias_act_backward", mutates_args=())
    def bias_act_backward(x: T, bias: Optional[T], g: T, name: str, p0: Optional[float],
                          p1: Optional[float]) -> Tuple[T, T]:
        dx, db = A.bias_act_backward(x, bias, g, name, p0, p1)
        return dx, (db if db is not None else x.new_empty(0))

    @bias_act_backward.register_fake
    def _(x, bias, g, name, p0, p1):
        return (torch.empty_like(x, memory_format=torch.contiguous_format),
                torch.empty_like(bias) if bias is not None else x.new_empty(0))

    def ba_setup(ctx, inputs, output):
        x, bias, name, p0, p1 = inputs
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, bias)
        ctx.args = (name, p0, p1)

    def ba_grad(ctx, g):
        x, bias = ctx.saved_tensors
        dx, db = bias_act_backward(x, bias, g, *ctx.args)
        return dx, (db if ctx.has_bias else None), None, None, None

    bias_act.register_autograd(ba_grad, setup_context=ba_setup)

    # ---- gated -----------------------------------------------------------------------------
    @lib.custom_op("actk::gated", mutates_args=())
    def gated(x: T, name: str, p0: Optional[float], p1: Optional[float], value_first: bool) -> T:
        return A.gated_forward(x, name, p0, p1, value_first)

    @gated.register_fake
    def _(x, name, p0, p1, value_first):
        return x.new_empty(tuple(x.shape[:-1]) + (x.shape[-1] // 2,))

    @lib.custom_op("actk::gated_backward", mutates_args=())
    def gated_backward(x: T, g: T, name: str, p0: Optional[float], p1: Optional[float], value_first: bool) -> T:
        return A.gated_backward(x, g, name, p0, p1, value_first)

    @gated_backward.register_fake
    def _(x, g, name, p0, p1, value_first):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    def ga_setup(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.args = inputs[1:]

    def ga_grad(ctx, g):
        (x,) = ctx.saved_tensors
        return gated_backward(x, g, *ctx.args), None, None, None, None

    gated.register_autograd(ga_grad, setup_context=ga_setup)

    # ---- clamped SwiGLU (GPT-OSS), gate first or interleaved -------------------------------
    @lib.custom_op("actk::clamped_swiglu", mutates_args=())
    def clamped_swiglu(x: T, alpha: float, limit: float, interleaved: bool) -> T:
        if interleaved:
            return A.clamped_interleaved_forward(x, alpha, limit)
        return A.gated_forward(x, None, None, None, False, (alpha, limit))

    @clamped_swiglu.register_fake
    def _(x, alpha, limit, interleaved):
        return x.new_empty(tuple(x.shape[:-1]) + (x.shape[-1] // 2,))

    @lib.custom_op("actk::clamped_swiglu_backward", mutates_args=())
    def clamped_swiglu_backward(x: T, g: T, alpha: float, limit: float, interleaved: bool) -> T:
        if interleaved:
            return A.clamped_interleaved_backward(x, g, alpha, limit)
        return A.gated_backward(x, g, None, None, None, False, (alpha, limit))

    @clamped_swiglu_backward.register_fake
    def _(x, g, alpha, limit, interleaved):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    def cs_setup(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.args = inputs[1:]

    def cs_grad(ctx, g):
        (x,) = ctx.saved_tensors
        return clamped_swiglu_backward(x, g, *ctx.args), None, None, None

    clamped_swiglu.register_autograd(cs_grad, setup_context=cs_setup)

    # ---- cross-entropy ---------------------------------------------------------------------
    @lib.custom_op("actk::cross_entropy", mutates_args=())
    def cross_entropy(x: T, target: T, weight: Optional[T], ignore_index: int, reduction: str, label_smoothing: float,
                      z_loss: float, softcap: float) -> Tuple[T, T]:
        return A.cross_entropy_forward(x, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap)

    @cross_entropy.register_fake
    def _(x, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap):
        rows = x.shape[0]
        return (x.new_empty((rows,) if reduction == "none" else ()), x.new_empty((rows,), dtype=torch.float32))

    @lib.custom_op("actk::cross_entropy_backward", mutates_args=())
    def cross_entropy_backward(x: T, target: T, weight: Optional[T], lse: T, g: T, ignore_index: int, reduction: str,
                               label_smoothing: float, z_loss: float, softcap: float) -> T:
        return A.cross_entropy_backward(x, target, weight, lse, g, ignore_index, reduction, label_smoothing, z_loss, softcap)

    @cross_entropy_backward.register_fake
    def _(x, target, weight, lse, g, ignore_index, reduction, label_smoothing, z_loss, softcap):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    def ce_setup(ctx, inputs, output):
        x, target, weight = inputs[:3]
        ctx.save_for_backward(x, target, weight, output[1])
        ctx.args = inputs[3:]

    def ce_grad(ctx, g, g_lse):
        x, target, weight, lse = ctx.saved_tensors
        return (cross_entropy_backward(x, target, weight, lse, g, *ctx.args),) + (None,) * 7

    cross_entropy.register_autograd(ce_grad, setup_context=ce_setup)

    # ---- attention-style softmax -----------------------------------------------------------
    @lib.custom_op("actk::attention_softmax", mutates_args=())
    def attention_softmax(x: T, mask: Optional[T], scale: float, causal: bool, causal_offset: int, flags: int) -> T:
        return A.attention_softmax_forward(x, mask, scale, causal, causal_offset, flags)

    @attention_softmax.register_fake
    def _(x, mask, scale, causal, causal_offset, flags):
        return torch.empty_like(x, memory_format=torch.contiguous_format)

    @lib.custom_op("actk::attention_softmax_backward", mutates_args=())
    def attention_softmax_backward(y: T, g: T, scale: float, flags: int) -> T:
        return A.attention_softmax_backward(y, g, scale, flags)

    @attention_softmax_backward.register_fake
    def _(y, g, scale, flags):
        return torch.empty_like(y, memory_format=torch.contiguous_format)

    def at_setup(ctx, inputs, output):
        x, mask, scale, causal, causal_offset, flags = inputs
        ctx.save_for_backward(output)
        ctx.args = (scale, flags, None if mask is None else tuple(mask.shape))

    def at_grad(ctx, g):
        (y,) = ctx.saved_tensors
        scale, flags, mask_shape = ctx.args
        dx = attention_softmax_backward(y, g, scale, flags)
        dmask = None
        if mask_shape is not None and ctx.needs_input_grad[1]:
            dmask = A.attention_mask_grad(attention_softmax_backward(y, g, 1.0, flags), mask_shape)
        return dx, dmask, None, None, None, None

    attention_softmax.register_autograd(at_grad, setup_context=at_setup)


if _version_ok():
    _register()
    REGISTERED = True
