"""actk.nn.functional against torch.nn.functional (or the op's formula where PyTorch has none):
values and gradients in float32 and bfloat16, gradcheck in float64, in-place forms, errors."""
import math

import pytest
import torch
import torch.nn.functional as TF

import actk
import actk.nn.functional as F

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() and actk.cuda_available() else [])


def _sparse_plus(x):
    return torch.where(x <= -1, torch.zeros_like(x), torch.where(x >= 1, x, (x + 1) ** 2 / 4))


# name -> (actk call, reference in float64, differentiable for gradcheck)
OPS = {
    "identity": (F.identity, lambda x: x),
    "binary_step": (F.binary_step, lambda x: (x >= 0).to(x.dtype) + 0 * x),
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "tanh": (F.tanh, torch.tanh),
    "relu": (F.relu, TF.relu),
    "relu6": (F.relu6, TF.relu6),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    "elu": (lambda x: F.elu(x, 0.7), lambda x: TF.elu(x, 0.7)),
    "selu": (F.selu, TF.selu),
    "celu": (lambda x: F.celu(x, 1.3), lambda x: TF.celu(x, 1.3)),
    # PyTorch's own formulas x (1 + erf) / 2 and x (1 + tanh) / 2 cancel in the left tail even in
    # float64: the references are the same functions in forms that do not
    "gelu": (F.gelu, lambda x: 0.5 * x * torch.special.erfc(-x / math.sqrt(2))),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: x * torch.sigmoid(2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
    "quick_gelu": (F.quick_gelu, lambda x: x * torch.sigmoid(1.702 * x)),
    "silu": (F.silu, TF.silu),
    "swish": (lambda x: F.swish(x, 1.5), lambda x: x * torch.sigmoid(1.5 * x)),
    "mish": (F.mish, TF.mish),
    "softplus": (lambda x: F.softplus(x, 2.0, 3.0), lambda x: TF.softplus(x, 2.0, 3.0)),
    "softsign": (F.softsign, TF.softsign),
    "exponential": (F.exponential, torch.exp),
    "log_sigmoid": (F.logsigmoid, TF.logsigmoid),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0)),
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid),
    "hardswish": (F.hardswish, TF.hardswish),
    "softshrink": (lambda x: F.softshrink(x, 0.3), lambda x: TF.softshrink(x, 0.3)),
    "hardshrink": (lambda x: F.hardshrink(x, 0.3), lambda x: TF.hardshrink(x, 0.3)),
    "tanhshrink": (F.tanhshrink, TF.tanhshrink),
    "threshold": (lambda x: F.threshold(x, 0.1, -2.0), lambda x: TF.threshold(x, 0.1, -2.0)),
    "squareplus": (lambda x: F.squareplus(x, 3.0), lambda x: (x + torch.sqrt(x * x + 3.0)) / 2),
    "squared_relu": (F.squared_relu, lambda x: TF.relu(x) ** 2),
    "sparse_plus": (F.sparse_plus, _sparse_plus),
    "sine": (F.sine, torch.sin),
}

TOL = {torch.float32: dict(rtol=4e-7, atol=1e-30), torch.bfloat16: dict(rtol=2 ** -8, atol=1e-30)}


def inputs(dtype, device, n=4096, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g, dtype=torch.float64) * 3
    x[:8] = torch.tensor([0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 0.5, -0.5], dtype=torch.float64)
    return x.to(dtype).to(device)


def ulp32(v):
    """The float32 ulp of each (float32-valued) element of float64 tensor v: 2^(e - 24) for
    v = m 2^e, m in [0.5, 1); 2^-149 at and below the subnormal range."""
    _, e = torch.frexp(v)
    e = torch.where(v == 0, torch.full_like(e, -125), e)
    return torch.ldexp(torch.ones_like(v), torch.clamp(e - 24, min=-149))


_WINDOWS = {}


def derivative_zero_windows(name):
    """Where f' changes sign (both sides under 1/4 in magnitude), the interval around it where
    |f'| < 1/16, from the float64 reference's autograd on a grid of 1/1024 over [-48, 48]: the
    windows of tests/common.h's derivative_zero_windows, in which the GPU's float32 bound is
    absolute (f''s relative error is unbounded at its zero)."""
    if name not in _WINDOWS:
        xs = torch.arange(-48 * 1024, 48 * 1024 + 1, dtype=torch.float64) / 1024
        xs.requires_grad_(True)
        (d,) = torch.autograd.grad(OPS[name][1](xs).sum(), xs)
        d = d.detach()
        small, sign = d.abs() < 1 / 16, torch.sign(d)
        wins = []
        for i in torch.nonzero((sign[:-1] * sign[1:] < 0) & (d[:-1].abs() < 0.25) & (d[1:].abs() < 0.25)).flatten().tolist():
            lo, hi = i, i + 1
            while lo > 0 and small[lo - 1]:
                lo -= 1
            while hi < len(d) - 1 and small[hi + 1]:
                hi += 1
            wins.append((float(xs[lo]) - 1 / 1024, float(xs[hi]) + 1 / 1024))
        _WINDOWS[name] = wins
    return _WINDOWS[name]


def in_windows(wins, xs):
    m = torch.zeros(xs.shape, dtype=torch.bool)
    for lo, hi in wins:
        m |= (xs >= lo) & (xs <= hi)
    return m


def test_every_op_of_the_list_is_covered():
    assert sorted(set(actk.op_names()) - {"linear", "prelu"}) == sorted(OPS)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("name", sorted(OPS))
def test_values_and_gradients_match_torch(name, dtype, device):
    fn, ref = OPS[name]
    x = inputs(dtype, device).requires_grad_(True)
    y = fn(x)
    assert y.dtype == dtype and y.shape == x.shape and y.device == x.device
    x64 = x.detach().to(torch.float64).requires_grad_(True)
    y64 = ref(x64)
    if device == "cuda" and dtype == torch.float32:  # the GPU's float32 math: within 4 ulp
        want_y = y64.detach().to(dtype).cpu().double()
        err_y = (y.detach().cpu().double() - want_y).abs()
        assert bool((err_y <= 4 * ulp32(want_y)).all()), f"{name} forward: {int((err_y > 4 * ulp32(want_y)).sum())} over 4 ulp"
    else:  # actk rounds the exact result once: hold it to the float64 reference rounded to the dtype
        torch.testing.assert_close(y.detach().cpu().double(), y64.detach().to(dtype).cpu().double(), **TOL[dtype])
    g = inputs(dtype, device, seed=1)
    (dx,) = torch.autograd.grad(y, x, g)
    (dx64,) = torch.autograd.grad(y64, x64, g.double())
    if name in ("sparse_plus", "squared_relu"):
        # reference's autograd through where/pow: the same derivative, other roundings
        torch.testing.assert_close(dx.cpu().double(), dx64.cpu(), rtol=2e-6 if dtype == torch.float32 else 2e-2, atol=1e-6)
    else:
        keep = torch.ones(dx64.shape, dtype=torch.bool)  # on the CPU, like the tensors it selects from
        if name == "hardswish":  # PyTorch's vectorized CPU kernel gives f'(3) = 1, its scalar one 1.5 (actk)
            keep = x.detach().cpu().abs() != 3
        got, want = dx.cpu().double()[keep], dx64.to(dtype).cpu().double()[keep]
        if device == "cuda" and dtype == torch.float32:
            # the GPU's float32 math (README's accuracy table; tests/test_exhaustive.cu holds every
            # float32 input to it): f' within 8 ulp, times dy (half an ulp more), and within
            # 2^-22 |dy| inside the windows around f''s sign changes
            xs, gs = x.detach().cpu().double()[keep], g.cpu().double()[keep]
            near0 = in_windows(derivative_zero_windows(name), xs)
            err = (got - want).abs()
            bound = torch.where(near0, 2.0 ** -22 * gs.abs(), 8.5 * ulp32(want))
            assert bool((err <= bound).all()), f"{name}: {int((err > bound).sum())} over; worst {float((err / bound).max()):.2f}x the bound"
        else:
            # actk: f' dy rounded once (two roundings where the derivative itself is rounded first)
            tol = dict(rtol=4e-7, atol=1e-30) if dtype == torch.float32 else dict(rtol=2 ** -7, atol=1e-30)
            torch.testing.assert_close(got, want, **tol)


@pytest.mark.parametrize("name", sorted(n for n in OPS if n not in ("binary_step",)))
def test_gradcheck_float64(name):
    fn, _ = OPS[name]
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(24, generator=g, dtype=torch.float64) * 6 - 3)
    # keep away from the kinks where a finite difference straddles two branches
    for k in (0.0, -1.0, 1.0, 3.0, -3.0, 0.3, -0.3, 0.1, -0.5, 2.0, 6.0):
        x = torch.where((x - k).abs() < 1e-3, x + 0.01, x)
    assert torch.autograd.gradcheck(fn, (x.requires_grad_(True),), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_linear_and_activation_by_name():
    x = inputs(torch.float32, "cpu")
    torch.testing.assert_close(F.activation(x, "linear", 2.5), x * 2.5, rtol=0, atol=0)
    torch.testing.assert_close(F.activation(x, "softplus"), TF.softplus(x), rtol=4e-7, atol=1e-30)  # defaults
    with pytest.raises(ValueError, match="no op named"):
        F.activation(x, "not_an_op")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.float16])
def test_dtypes(dtype):
    x = inputs(dtype, "cpu", n=100)
    y = F.silu(x)
    assert y.dtype == dtype
    torch.testing.assert_close(y.double(), TF.silu(x.double()).to(dtype).double(), rtol=1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-6,
                               atol=1e-6)


@pytest.mark.parametrize("name", ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "silu", "mish", "hardtanh",
                                  "hardsigmoid", "hardswish", "threshold"])
def test_inplace_forms(name):
    fn = getattr(F, name)
    args = {"threshold": (0.1, -2.0)}.get(name, ())
    x0 = inputs(torch.float32, "cpu", n=256)
    want = fn(x0.clone(), *args)
    leaf = x0.clone().requires_grad_(True)
    a = leaf * 1.0  # an in-place op on a non-leaf, as in a model
    b = fn(a, *args, inplace=True)
    assert b.data_ptr() == a.data_ptr()
    torch.testing.assert_close(b, want, rtol=0, atol=0)
    b.sum().backward()
    leaf2 = x0.clone().requires_grad_(True)
    fn(leaf2 * 1.0, *args).sum().backward()
    torch.testing.assert_close(leaf.grad, leaf2.grad, rtol=1e-6, atol=1e-7)


def test_inplace_on_a_leaf_that_requires_grad_is_refused_as_in_torch():
    x = torch.randn(10, requires_grad=True)
    with pytest.raises(RuntimeError):
        F.relu(x, inplace=True)


def test_non_contiguous_input_is_copied_and_inplace_refused():
    x = torch.randn(16, 16)[:, ::2]
    assert not x.is_contiguous()
    assert torch.equal(F.gelu(x), F.gelu(x.contiguous()))
    with pytest.raises(ValueError, match="contiguous"):
        F.relu(x, inplace=True)


def test_errors_a_pytorch_user_understands():
    with pytest.raises(TypeError, match="dtype torch.int32"):
        F.relu(torch.arange(4, dtype=torch.int32))
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(torch.randn(3), approximate="fast")
    with pytest.raises(actk.ActkError, match="beta"):
        F.softplus(torch.randn(3), beta=0.0)
    with pytest.raises(ValueError, match="even"):
        F.swiglu(torch.randn(4, 7))
    with pytest.raises(ValueError, match="bias has 3 elements"):
        F.bias_act(torch.randn(4, 5), torch.randn(3))
    with pytest.raises(TypeError, match="weight is torch.float64"):
        F.prelu(torch.randn(2, 3), torch.randn(3, dtype=torch.float64))
    if not actk.cuda_available() and torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="without CUDA"):
            F.relu(torch.randn(4, device="cuda"))


def test_empty_tensors():
    for fn in (F.gelu, F.relu, lambda x: F.softmax(x, -1)):
        x = torch.empty(0, 5, requires_grad=True)
        y = fn(x)
        assert y.shape == (0, 5)
        y.sum().backward()
        assert x.grad.shape == (0, 5)


# ---- softmax ------------------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_any_dim(dim, log, device):
    x = torch.randn(6, 33, 5, dtype=torch.float64, device=device, requires_grad=True)
    ours = (F.log_softmax if log else F.softmax)(x, dim)
    ref = (TF.log_softmax if log else TF.softmax)(x, dim)
    torch.testing.assert_close(ours, ref, rtol=1e-14, atol=1e-15)
    g = torch.randn_like(x)
    torch.testing.assert_close(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(ref, x, g)[0], rtol=1e-12, atol=1e-14)
    assert torch.autograd.gradcheck(lambda t: (F.log_softmax if log else F.softmax)(t, dim), (x.detach().requires_grad_(True),))


def test_softmax_float32_bfloat16_and_masked_rows():
    x = torch.randn(64, 1000, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(F.softmax(x, -1), TF.softmax(x.double(), -1).float(), rtol=1e-6, atol=1e-12)
    xb = x.bfloat16()
    # both round the exact value once; a near-tie may still round apart by one bfloat16 ulp (2^-7 relative at most)
    torch.testing.assert_close(F.softmax(xb, -1).double(), TF.softmax(xb.double(), -1).bfloat16().double(), rtol=2 ** -7,
                               atol=1e-12)
    m = torch.full((2, 4), -math.inf)
    assert torch.isnan(F.softmax(m, -1)).all()
    assert (F.softmax(m, -1, masked_rows_zero=True) == 0).all()


# ---- PReLU, bias + activation, gated --------------------------------------------------------------

@pytest.mark.parametrize("shape,channels", [((4, 3, 5, 5), 3), ((7, 6), 6), ((10,), 1), ((2, 3, 4), 1)])
def test_prelu_matches_torch(shape, channels):
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    w = (torch.rand(channels, dtype=torch.float64) * 0.5).requires_grad_(True)
    ours, ref = F.prelu(x, w), TF.prelu(x, w)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    g = torch.randn_like(ours)
    dx, dw = torch.autograd.grad(ours, (x, w), g)
    rx, rw = torch.autograd.grad(ref, (x, w), g)
    torch.testing.assert_close(dx, rx, rtol=0, atol=0)
    torch.testing.assert_close(dw, rw, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(F.prelu, (x.detach().requires_grad_(True), w.detach().requires_grad_(True)))
    with pytest.raises(ValueError, match="dimension 1"):
        F.prelu(torch.randn(3, 4), torch.rand(5))


@pytest.mark.parametrize("act,ref", [("gelu", TF.gelu), ("silu", TF.silu), ("relu", TF.relu)])
def test_bias_act(act, ref):
    x = torch.randn(8, 3, 16, dtype=torch.float64, requires_grad=True)
    b = torch.randn(16, dtype=torch.float64, requires_grad=True)
    ours, want = F.bias_act(x, b, act), ref(x + b)
    torch.testing.assert_close(ours, want, rtol=1e-15, atol=1e-15)
    g = torch.randn_like(ours)
    for a, r in zip(torch.autograd.grad(ours, (x, b), g), torch.autograd.grad(want, (x, b), g)):
        torch.testing.assert_close(a, r, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t, c: F.bias_act(t, c, act), (x.detach().requires_grad_(True),
                                                                         b.detach().requires_grad_(True)))
    xn = torch.randn(5, 16, dtype=torch.float64)
    torch.testing.assert_close(F.bias_act(xn, None, act), ref(xn), rtol=1e-15, atol=1e-15)


def test_gated_and_glu():
    x = torch.randn(6, 2, 20, dtype=torch.float64, requires_grad=True)
    gate, value = x[..., :10], x[..., 10:]
    cases = [(F.swiglu(x), TF.silu(gate) * value), (F.geglu(x), TF.gelu(gate) * value),
             (F.reglu(x), TF.relu(gate) * value), (F.glu(x), TF.glu(x, -1)), (F.glu(x, 1), TF.glu(x, 1))]
    for ours, want in cases:
        torch.testing.assert_close(ours, want, rtol=1e-14, atol=1e-15)
        g = torch.randn_like(ours)
        torch.testing.assert_close(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(want, x, g)[0], rtol=1e-12,
                                   atol=1e-14)
    assert torch.autograd.gradcheck(F.swiglu, (x.detach().requires_grad_(True),))
