"""torch.autograd.Functions over libactk's C ABI: element-wise activations, PReLU, softmax /
log-softmax, bias + activation and gated activations. CPU tensors run actk's CPU path, CUDA tensors
its kernels on the tensor's device and current stream."""
import contextlib
import ctypes

import torch
from torch.autograd.function import once_differentiable

from . import _lib
from ._lib import call

_DTYPES = {torch.float32: _lib.FLOAT32, torch.float64: _lib.FLOAT64, torch.float16: _lib.FLOAT16,
           torch.bfloat16: _lib.BFLOAT16}

# ops whose derivative is read exactly from the output's sign or range (piecewise constant f'): for
# these the backward starts from the saved output, so the input may be freed (as PyTorch's relu
# does). Every other op saves its input: a derivative formed from a rounded output (1 - y for
# sigmoid near 1, y + alpha for elu near -alpha) loses the accuracy the input keeps, badly so in
# bfloat16.
_EXACT_FROM_OUTPUT = {"identity", "linear", "binary_step", "relu", "relu6", "leaky_relu", "hardtanh", "softshrink",
                      "hardshrink"}


def _from_output_ok(name, p0, inplace=False):
    """Whether the backward starts from the output y = f(x): ops whose f' y gives exactly, and any
    op that allows it when the call is in place (the input is gone)."""
    if name in ("leaky_relu", "elu") and p0 is not None and p0 < 0:
        return False  # y's sign no longer tells the branch
    if name in _EXACT_FROM_OUTPUT:
        return True
    return inplace and bool(_lib.op_info(name).has_backward_from_output)


def dtype_of(t, what="input"):
    d = _DTYPES.get(t.dtype)
    if d is None:
        raise TypeError(f"actk: {what} has dtype {t.dtype}; actk supports torch.float32, float64, float16 and bfloat16")
    return d


def place(*tensors):
    """(backend, stream pointer, device context) for tensors that must share one device."""
    dev = tensors[0].device
    for t in tensors[1:]:
        if t.device != dev:
            raise ValueError(f"actk: tensors on different devices ({dev} and {t.device})")
    if dev.type == "cpu":
        return _lib.BACKEND_CPU, None, contextlib.nullcontext()
    if dev.type == "cuda":
        if not _lib.cuda_available():
            raise RuntimeError(f"actk: CUDA tensors given, but the loaded libactk ({_lib.library_path()}) was built "
                               "without CUDA or sees no usable GPU")
        stream = ctypes.c_void_p(torch.cuda.current_stream(dev).cuda_stream)
        return _lib.BACKEND_CUDA, stream, torch.cuda.device(dev)
    raise ValueError(f"actk: tensors on {dev}; actk runs on CPU and CUDA tensors")


def ptr(t, offset_elems=0):
    return ctypes.c_void_p(t.data_ptr() + offset_elems * t.element_size())


def _check_inplace(x):
    if not x.is_contiguous():
        raise ValueError("actk: in-place forms need a contiguous tensor (out-of-place forms copy a non-contiguous "
                         "input to a contiguous one first)")


def act_forward(x, name, p0, p1, out=None):
    """y = f(x) into `out` (a new tensor when None; x itself for in place). No autograd."""
    dt = dtype_of(x)
    be, stream, dev = place(x)
    if out is None:
        x = x.contiguous()
        out = torch.empty_like(x)
    with dev:
        call("forward_ex", _lib.op_id(name), _lib.params(p0, p1), dt, ptr(x), ptr(out), x.numel(), be, stream, 1.0, 0.0)
    return out


def act_backward(t, g, name, p0, p1, from_output):
    """dx from the saved input (or output, from_output=True) t and the incoming gradient g."""
    dt = dtype_of(t)
    g = g.contiguous()
    be, stream, dev = place(t, g)
    dx = torch.empty_like(t)
    with dev:
        call("backward_ex", _lib.op_id(name), _lib.params(p0, p1), dt, _lib.FROM_OUTPUT if from_output else _lib.FROM_INPUT,
             ptr(t), ptr(g), ptr(dx), t.numel(), be, stream, 1.0, 0.0)
    return dx


class Elementwise(torch.autograd.Function):
    """y = f(x) for an op of actk's list; the backward from the saved output where the op allows it
    (sigmoid, tanh, relu, ...: the input may then be freed), else from the saved input."""

    @staticmethod
    def forward(ctx, x, name, p0, p1, inplace):
        from_out = _from_output_ok(name, p0, inplace)
        if inplace:
            dtype_of(x)
            _check_inplace(x)
            saved_in = None if from_out else x.clone()
            out = act_forward(x, name, p0, p1, out=x)
            ctx.mark_dirty(out)
            ctx.save_for_backward(out if from_out else saved_in)
        else:
            x = x.contiguous()
            out = act_forward(x, name, p0, p1)
            ctx.save_for_backward(out if from_out else x)
        ctx.meta = (name, p0, p1, from_out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (t,) = ctx.saved_tensors
        name, p0, p1, from_out = ctx.meta
        return act_backward(t, g, name, p0, p1, from_out), None, None, None, None


def _axis(shape, dim):
    nd = len(shape)
    if nd == 0:
        return 1, 1, 1
    if not -nd <= dim < nd:
        raise IndexError(f"actk: dim {dim} out of range for a tensor of {nd} dimensions")
    dim %= nd
    outer = 1
    for s in shape[:dim]:
        outer *= s
    inner = 1
    for s in shape[dim + 1:]:
        inner *= s
    return outer, shape[dim], inner


def _flags(log, masked_rows_zero):
    return (_lib.SOFTMAX_LOG if log else 0) | (_lib.SOFTMAX_MASKED_ROWS_ZERO if masked_rows_zero else 0)


def softmax_forward(x, dim, log, masked_rows_zero):
    dt = dtype_of(x)
    be, stream, dev = place(x)
    x = x.contiguous()
    outer, axis, inner = _axis(tuple(x.shape), dim)
    y = torch.empty_like(x)
    with dev:
        call("softmax_forward_ex", dt, ptr(x), ptr(y), outer, axis, inner, _flags(log, masked_rows_zero), be, stream, 1.0, 0.0)
    return y


def softmax_backward(y, g, dim, log, masked_rows_zero):
    dt = dtype_of(y)
    g = g.contiguous()
    be, stream, dev = place(y, g)
    outer, axis, inner = _axis(tuple(y.shape), dim)
    dx = torch.empty_like(y)
    with dev:
        call("softmax_backward_ex", dt, ptr(y), ptr(g), ptr(dx), outer, axis, inner, _flags(log, masked_rows_zero), be,
             stream, 1.0, 0.0)
    return dx


class Softmax(torch.autograd.Function):
    """softmax / log-softmax over `dim` (numerically stable); the backward needs only the output."""

    @staticmethod
    def forward(ctx, x, dim, log, masked_rows_zero):
        y = softmax_forward(x, dim, log, masked_rows_zero)
        ctx.save_for_backward(y)
        ctx.meta = (dim, log, masked_rows_zero)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return softmax_backward(y, g, *ctx.meta), None, None, None


def _prelu_shape(x, weight):
    C = weight.numel()
    if C == 1:
        return 1, 1
    if x.dim() < 2 or x.shape[1] != C:
        raise ValueError(f"actk: prelu with {C} weights needs the channels as dimension 1 of the input "
                         f"(got shape {tuple(x.shape)})")
    inner = 1
    for s in x.shape[2:]:
        inner *= s
    return C, inner


def prelu_forward(x, weight):
    dt = dtype_of(x)
    if weight.dtype != x.dtype:
        raise TypeError(f"actk: prelu's weight is {weight.dtype} but the input is {x.dtype}")
    be, stream, dev = place(x, weight)
    x, weight = x.contiguous(), weight.contiguous()
    C, inner = _prelu_shape(x, weight)
    y = torch.empty_like(x)
    with dev:
        call("prelu_forward", dt, ptr(x), ptr(weight), ptr(y), x.numel(), C, inner, be, stream)
    return y


def prelu_backward(x, weight, g):
    dt = dtype_of(x)
    g = g.contiguous()
    be, stream, dev = place(x, weight, g)
    x, weight = x.contiguous(), weight.contiguous()
    C, inner = _prelu_shape(x, weight)
    dx = torch.empty_like(x)
    dw = torch.empty_like(weight)
    with dev:
        call("prelu_backward", dt, ptr(x), ptr(g), ptr(weight), ptr(dx), ptr(dw), x.numel(), C, inner, be, stream, None, 0)
    return dx, dw


class Prelu(torch.autograd.Function):
    """PReLU with a learned slope per channel (dimension 1) or one shared slope."""

    @staticmethod
    def forward(ctx, x, weight):
        y = prelu_forward(x, weight)
        ctx.save_for_backward(x, weight)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return prelu_backward(x, weight, g)


def _bias_shape(x, bias):
    cols = x.shape[-1] if x.dim() > 0 else 1
    if bias is not None:
        if bias.dtype != x.dtype:
            raise TypeError(f"actk: bias is {bias.dtype} but the input is {x.dtype}")
        if bias.numel() != cols:
            raise ValueError(f"actk: bias has {bias.numel()} elements; the input's last dimension has {cols}")
    return (x.numel() // cols if cols else 0), cols


def bias_act_forward(x, bias, name, p0, p1):
    dt = dtype_of(x)
    rows, cols = _bias_shape(x, bias)
    be, stream, dev = place(*([x] if bias is None else [x, bias]))
    x = x.contiguous()
    b = None if bias is None else bias.contiguous()
    y = torch.empty_like(x)
    with dev:
        call("bias_act_forward", _lib.op_id(name), _lib.params(p0, p1), dt, ptr(x), None if b is None else ptr(b), ptr(y),
             rows, cols, None, 1.0, 0.0, be, stream)
    return y


def bias_act_backward(x, bias, g, name, p0, p1, want_dbias=True):
    """(dx, dbias): dbias None without a bias (or when not wanted)."""
    dt = dtype_of(x)
    rows, cols = _bias_shape(x, bias)
    g = g.contiguous()
    be, stream, dev = place(*([x, g] if bias is None else [x, g, bias]))
    x = x.contiguous()
    b = None if bias is None else bias.contiguous()
    dx = torch.empty_like(x)
    db = torch.empty_like(b) if b is not None and want_dbias else None
    with dev:
        call("bias_act_backward", _lib.op_id(name), _lib.params(p0, p1), dt, ptr(x), None if b is None else ptr(b), ptr(g),
             ptr(dx), None if db is None else ptr(db), rows, cols, 1.0, 0.0, be, stream, None, 0)
    return dx, db


class BiasAct(torch.autograd.Function):
    """y = f(x + bias) over the last dimension (bias has x.shape[-1] elements), one pass; the
    backward gives dx and dbias (summed over rows in double, deterministic) in one call."""

    @staticmethod
    def forward(ctx, x, bias, name, p0, p1):
        y = bias_act_forward(x, bias, name, p0, p1)
        ctx.save_for_backward(x, bias)
        ctx.meta = (name, p0, p1)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, b = ctx.saved_tensors
        dx, db = bias_act_backward(x, b, g, *ctx.meta, want_dbias=ctx.needs_input_grad[1])
        return dx, db, None, None, None


def _gated_shape(x, value_first):
    if x.dim() == 0 or x.shape[-1] % 2:
        raise ValueError(f"actk: a gated activation halves the last dimension; it must be even (got shape "
                         f"{tuple(x.shape)})")
    cols = x.shape[-1] // 2
    rows = x.numel() // (2 * cols) if cols else 0
    go, vo = (cols, 0) if value_first else (0, cols)
    return rows, cols, go, vo


def gated_forward(x, name, p0, p1, value_first, clamp=None):
    """clamp: None, or (alpha, limit) for GPT-OSS's clamped SwiGLU (name, p0, p1 unused then)."""
    dt = dtype_of(x)
    rows, cols, go, vo = _gated_shape(x, value_first)
    be, stream, dev = place(x)
    x = x.contiguous()
    y = x.new_empty(tuple(x.shape[:-1]) + (cols,))
    with dev:
        if clamp:
            call("clamped_swiglu_forward", dt, ptr(x, go), ptr(x, vo), 2 * cols, ptr(y), rows, cols, *clamp, be, stream, 1.0, 0.0)
        else:
            call("gated_forward", _lib.op_id(name), _lib.params(p0, p1), dt, ptr(x, go), ptr(x, vo), 2 * cols, ptr(y), rows,
                 cols, 1.0, 0.0, be, stream)
    return y


def gated_backward(x, g, name, p0, p1, value_first, clamp=None):
    dt = dtype_of(x)
    rows, cols, go, vo = _gated_shape(x, value_first)
    g = g.contiguous()
    be, stream, dev = place(x, g)
    x = x.contiguous()
    dx = torch.empty_like(x)
    with dev:
        if clamp:
            call("clamped_swiglu_backward", dt, ptr(x, go), ptr(x, vo), 2 * cols, ptr(g), ptr(dx, go), ptr(dx, vo), rows, cols,
                 *clamp, be, stream, 1.0, 0.0)
        else:
            call("gated_backward", _lib.op_id(name), _lib.params(p0, p1), dt, ptr(x, go), ptr(x, vo), 2 * cols, ptr(g),
                 ptr(dx, go), ptr(dx, vo), rows, cols, 1.0, 0.0, be, stream)
    return dx


class Gated(torch.autograd.Function):
    """y = f(gate) * value over the last dimension of x = [..., 2 cols]: gate first (Transformer
    Engine's order; value_first=True is PyTorch's F.glu order). Both halves' gradients in one pass."""

    @staticmethod
    def forward(ctx, x, name, p0, p1, value_first):
        y = gated_forward(x, name, p0, p1, value_first)
        ctx.save_for_backward(x)
        ctx.meta = (name, p0, p1, value_first)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return gated_backward(x, g, *ctx.meta), None, None, None, None


class ClampedSwiglu(torch.autograd.Function):
    """GPT-OSS's clamped SwiGLU over x = [..., 2 cols], gate first: g = min(gate, limit),
    v = clamp(value, -limit, limit), g sigmoid(alpha g) (v + 1); both gradients in one pass."""

    @staticmethod
    def forward(ctx, x, alpha, limit):
        ctx.clamp = (float(alpha), float(limit))
        ctx.save_for_backward(x)
        return gated_forward(x, None, None, None, False, ctx.clamp)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return gated_backward(x, g, None, None, None, False, ctx.clamp), None, None


def clamped_interleaved_forward(x, alpha, limit):
    """Clamped SwiGLU over x = [..., 2 cols] with gate and value alternating; returns [..., cols]."""
    dt = dtype_of(x)
    x = x.contiguous()
    if x.dim() == 0 or x.shape[-1] % 2:
        raise ValueError(f"actk: clamped_swiglu(interleaved=True) needs an even last dimension; got {tuple(x.shape)}")
    be, stream, dev = place(x)
    cols = x.shape[-1] // 2
    y = torch.empty(*x.shape[:-1], cols, dtype=x.dtype, device=x.device)
    with dev:
        call("clamped_swiglu_interleaved_forward", dt, ptr(x), ptr(y), x.numel() // max(1, x.shape[-1]), cols, float(alpha),
             float(limit), be, stream, 1.0, 0.0)
    return y


def clamped_interleaved_backward(x, g, alpha, limit):
    """The gradient over x (gates and values alternating, as x)."""
    x = x.contiguous()
    g = g.contiguous()
    be, stream, dev = place(x, g)
    dx = torch.empty_like(x)
    with dev:
        call("clamped_swiglu_interleaved_backward", dtype_of(x), ptr(x), ptr(g), ptr(dx), x.numel() // max(1, x.shape[-1]),
             x.shape[-1] // 2, float(alpha), float(limit), be, stream, 1.0, 0.0)
    return dx


class ClampedSwigluInterleaved(torch.autograd.Function):
    """Clamped SwiGLU over x = [..., 2 cols] with gate and value alternating (x[..., ::2] the gates,
    x[..., 1::2] the values); the kernels read that layout directly and the backward writes it."""

    @staticmethod
    def forward(ctx, x, alpha, limit):
        y = clamped_interleaved_forward(x, alpha, limit)
        ctx.clamp = (float(alpha), float(limit))
        ctx.save_for_backward(x)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return clamped_interleaved_backward(x, g, *ctx.clamp), None, None


def _ce_args(x, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap):
    if x.dim() != 2:
        raise ValueError(f"actk: cross_entropy takes logits of shape [rows, classes]; got {tuple(x.shape)} (reshape first)")
    if target.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"actk: cross_entropy's target has dtype {target.dtype}; class indices must be torch.int64 or int32")
    if tuple(target.shape) != (x.shape[0],):
        raise ValueError(f"actk: cross_entropy's target has shape {tuple(target.shape)}; expected ({x.shape[0]},)")
    if reduction not in _lib.REDUCTIONS:
        raise ValueError(f"actk: reduction {reduction!r} is not 'none', 'sum' or 'mean'")
    if weight is not None:
        if weight.dtype != x.dtype or tuple(weight.shape) != (x.shape[1],):
            raise ValueError(f"actk: cross_entropy's weight must be a ({x.shape[1]},) tensor of the logits' dtype {x.dtype}")
        weight = weight.contiguous()
    opts = _lib.CrossEntropyOptions(_lib.REDUCTIONS[reduction], int(ignore_index), float(label_smoothing), float(z_loss),
                                    float(softcap), weight.data_ptr() if weight is not None else None)
    tt = _lib.INT64 if target.dtype == torch.int64 else _lib.INT32
    return target.contiguous(), weight, opts, tt


def cross_entropy_forward(x, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap):
    """(loss, lse): the loss ((rows,) for 'none', else a scalar) and each row's logsumexp (float32)."""
    dt = dtype_of(x, "the logits")
    x = x.contiguous()
    target, weight, opts, tt = _ce_args(x, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap)
    be, stream, dev = place(*([x, target] + ([weight] if weight is not None else [])))
    rows, vocab = x.shape
    loss = torch.empty((rows,) if reduction == "none" else (), dtype=x.dtype, device=x.device)
    lse = torch.empty((rows,), dtype=torch.float32, device=x.device)
    with dev:
        call("cross_entropy_forward", dt, ptr(x), tt, ptr(target), ptr(loss), ptr(lse), rows, vocab, ctypes.byref(opts), be,
             stream)
    return loss, lse


def cross_entropy_backward(x, target, weight, lse, g, ignore_index, reduction, label_smoothing, z_loss, softcap):
    """dlogits from the forward's lse and the loss's gradient g."""
    x = x.contiguous()
    target, weight, opts, tt = _ce_args(x, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap)
    g = g.to(x.dtype).contiguous()
    be, stream, dev = place(x, g)
    dx = torch.empty_like(x)
    rows, vocab = x.shape
    with dev:
        call("cross_entropy_backward", dtype_of(x), ptr(x), tt, ptr(target), ptr(g), ptr(lse), ptr(dx), rows, vocab,
             ctypes.byref(opts), be, stream)
    return dx


class CrossEntropy(torch.autograd.Function):
    """F.cross_entropy over logits [rows, classes] with class-index targets; the forward saves the
    logits and the per-row logsumexp (float32), the backward reads each logits row once."""

    @staticmethod
    def forward(ctx, x, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap):
        loss, lse = cross_entropy_forward(x, target, weight, ignore_index, reduction, label_smoothing, z_loss, softcap)
        ctx.save_for_backward(x, target, weight, lse)
        ctx.meta = (ignore_index, reduction, label_smoothing, z_loss, softcap)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        x, target, weight, lse = ctx.saved_tensors
        return (cross_entropy_backward(x, target, weight, lse, g, *ctx.meta),) + (None,) * 7


def _attention_args(x, mask, scale, causal, causal_offset, flags):
    if x.dim() != 4:
        raise ValueError(f"actk: attention_softmax takes x [batch, heads, q, k]; got {x.dim()} dimensions")
    B, H, Q, K = x.shape
    opts = _lib.AttentionSoftmaxOptions(float(scale), _lib.MASK_NONE, None, 0, 0, 0, 1 if causal else 0, int(causal_offset),
                                        flags)
    if mask is not None:
        if mask.dim() == 2:
            mask = mask.view(1, 1, *mask.shape)
        if mask.dim() != 4 or mask.shape[-1] != K:
            raise ValueError(f"actk: attention_softmax's mask must be [k] rows broadcastable as [batch, heads, q, k] "
                             f"(each of its first dimensions 1 or x's); got {tuple(mask.shape)} for x {tuple(x.shape)}")
        if mask.dtype == torch.bool:
            opts.mask_type = _lib.MASK_KEEP
        elif mask.dtype == x.dtype:
            opts.mask_type = _lib.MASK_ADDITIVE
        else:
            raise TypeError(f"actk: attention_softmax's mask must be torch.bool (True = attend) or x's dtype {x.dtype} "
                            f"(added); got {mask.dtype}")
        mask = mask.contiguous()
        opts.mask = mask.data_ptr()
        opts.mask_batch, opts.mask_heads, opts.mask_q = mask.shape[0], mask.shape[1], mask.shape[2]
    return mask, opts


def attention_softmax_forward(x, mask, scale, causal, causal_offset, flags):
    dt = dtype_of(x)
    x = x.contiguous()
    mask4, opts = _attention_args(x, mask, scale, causal, causal_offset, flags)
    be, stream, dev = place(*([x] if mask4 is None else [x, mask4]))
    y = torch.empty_like(x)
    with dev:
        call("attention_softmax_forward", dt, ptr(x), ptr(y), *x.shape, ctypes.byref(opts), be, stream)
    return y


def attention_softmax_backward(y, g, scale, flags):
    """d/dx of softmax(scale x + mask) given y; with scale 1, d/dz (= d/dmask for an additive mask)."""
    g = g.contiguous()
    be, stream, dev = place(y, g)
    dx = torch.empty_like(y)
    with dev:
        call("attention_softmax_backward", dtype_of(y), ptr(y), ptr(g), ptr(dx), *y.shape, float(scale), flags, be, stream)
    return dx


def attention_mask_grad(dz, mask_shape):
    """d/dz summed over the dimensions an additive mask of mask_shape broadcasts over."""
    full = (1,) * (4 - len(mask_shape)) + tuple(mask_shape)
    dims = [d for d in range(3) if full[d] == 1 and dz.shape[d] != 1]
    return (dz.sum(dim=dims, keepdim=True) if dims else dz).reshape(mask_shape)


class AttentionSoftmax(torch.autograd.Function):
    """softmax(scale x + mask) over the last dimension of x [batch, heads, q, k], causal optional;
    saves only the output. An additive mask that requires grad gets d/dz summed over the
    dimensions it broadcasts over."""

    @staticmethod
    def forward(ctx, x, mask, scale, causal, causal_offset, log, masked_rows_zero):
        flags = _flags(log, masked_rows_zero)
        y = attention_softmax_forward(x, mask, scale, causal, causal_offset, flags)
        ctx.save_for_backward(y)
        ctx.meta = (scale, flags, None if mask is None else tuple(mask.shape))
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        scale, flags, mask_shape = ctx.meta
        dx = attention_softmax_backward(y, g, scale, flags) if ctx.needs_input_grad[0] else None
        dmask = None
        if ctx.needs_input_grad[1]:
            dmask = attention_mask_grad(attention_softmax_backward(y, g, 1.0, flags), mask_shape)
        return dx, dmask, None, None, None, None, None
