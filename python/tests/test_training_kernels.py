"""The training kernels of issue #17. actk.nn.functional.cross_entropy against
torch.nn.functional.cross_entropy: every reduction,
weights, ignore_index, label smoothing, int32 and int64 targets, values and gradients in float64,
float32 and bfloat16, gradcheck in float64; z_loss and softcap against their formulas written in
torch; the module; errors. GPT-OSS's clamped SwiGLU against its reference (autograd through
torch.clamp), both layouts."""
import pytest
import torch
import torch.nn.functional as TF

import actk
import actk.nn
import actk.nn.functional as F

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() and actk.cuda_available() else [])


def _data(rows, vocab, dtype, device, seed=0, ignore=True):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(rows, vocab, generator=g, dtype=torch.float64) * 3).to(dtype).to(device)
    t = torch.randint(0, vocab, (rows,), generator=g)
    if ignore and rows > 2:
        t[1] = -100
    w = (torch.rand(vocab, generator=g, dtype=torch.float64) + 0.5).to(dtype).to(device)
    return x, t.to(device), w


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_matches_torch_float64(device, reduction, weighted, smoothing):
    x, t, w = _data(7, 33, torch.float64, device)
    kw = dict(weight=w if weighted else None, reduction=reduction, label_smoothing=smoothing)
    xa, xt = x.clone().requires_grad_(), x.clone().requires_grad_()
    la, lt = F.cross_entropy(xa, t, **kw), TF.cross_entropy(xt, t, **kw)
    torch.testing.assert_close(la, lt, rtol=1e-12, atol=1e-13)
    g = torch.rand_like(lt) + 0.5
    (la * g).sum().backward()
    (lt * g).sum().backward()
    torch.testing.assert_close(xa.grad, xt.grad, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_float32_and_bfloat16(device, dtype):
    x, t, w = _data(16, 1000, dtype, device, seed=3)
    t32 = t.to(torch.int32)
    for kw in (dict(), dict(weight=w, label_smoothing=0.1, reduction="none")):
        xa = x.clone().requires_grad_()
        la = F.cross_entropy(xa, t32, **kw)
        ref = TF.cross_entropy(x.double(), t, **{k: (v.double() if torch.is_tensor(v) else v) for k, v in kw.items()})
        tol = 1e-6 if dtype == torch.float32 else 8e-3
        torch.testing.assert_close(la.double(), ref, rtol=tol, atol=tol)
        la.sum().backward()
        xr = x.double().requires_grad_()
        TF.cross_entropy(xr, t, **{k: (v.double() if torch.is_tensor(v) else v) for k, v in kw.items()}).sum().backward()
        torch.testing.assert_close(xa.grad.double(), xr.grad, rtol=tol, atol=tol * xr.grad.abs().max().item())


def test_gradcheck_with_every_option():
    x, t, w = _data(4, 9, torch.float64, "cpu", seed=5)
    x.requires_grad_()
    for kw in (dict(reduction="mean"), dict(reduction="none", weight=w, label_smoothing=0.2, z_loss=1e-2, softcap=3.0)):
        assert torch.autograd.gradcheck(lambda a: F.cross_entropy(a, t, **kw), (x,))


def test_z_loss_and_softcap_formulas():
    x, t, _ = _data(5, 11, torch.float64, "cpu", seed=9, ignore=False)
    c, z = 2.5, 3e-3
    capped = c * torch.tanh(x / c)
    ref = TF.cross_entropy(capped, t, reduction="none") + z * torch.logsumexp(capped, 1) ** 2
    torch.testing.assert_close(F.cross_entropy(x, t, reduction="none", z_loss=z, softcap=c), ref, rtol=1e-12, atol=1e-13)


def test_all_ignored_mean_is_nan_as_torch():
    x, _, _ = _data(3, 5, torch.float64, "cpu")
    t = torch.full((3,), -100)
    assert torch.isnan(F.cross_entropy(x, t)) and torch.isnan(TF.cross_entropy(x, t))


def test_module_trains():
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 5)
    loss_fn = actk.nn.CrossEntropyLoss(label_smoothing=0.05)
    assert "label_smoothing=0.05" in repr(loss_fn)
    data = torch.randn(64, 8)
    target = (data @ torch.randn(8, 5)).argmax(1)  # learnable by a linear model
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(model(data), target)
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first


def test_errors():
    x, t, w = _data(3, 5, torch.float32, "cpu")
    with pytest.raises(ValueError, match="rows, classes"):
        F.cross_entropy(x.reshape(3, 5, 1), t)
    with pytest.raises(TypeError, match="int64 or int32"):
        F.cross_entropy(x, t.float())
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, t, reduction="avg")
    with pytest.raises(actk.ActkError, match="outside"):
        F.cross_entropy(x, torch.tensor([0, 5, 1]))
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(x, t, weight=w.double())


# ---- clamped SwiGLU (GPT-OSS) -------------------------------------------------------------------

def _gptoss(x, alpha=1.702, limit=7.0, interleaved=False):
    """GPT-OSS's reference, autograd through torch.clamp."""
    gate, value = (x[..., ::2], x[..., 1::2]) if interleaved else x.chunk(2, dim=-1)
    gate = gate.clamp(min=None, max=limit)
    value = value.clamp(min=-limit, max=limit)
    return gate * torch.sigmoid(alpha * gate) * (value + 1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("interleaved", [False, True])
def test_clamped_swiglu_matches_gptoss(device, interleaved):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(6, 2 * 40, generator=g, dtype=torch.float64) * 6).to(device)
    xa, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yr = F.clamped_swiglu(xa, interleaved=interleaved), _gptoss(xr, interleaved=interleaved)
    torch.testing.assert_close(ya, yr, rtol=1e-13, atol=1e-14)
    w = torch.randn(ya.shape, generator=g, dtype=torch.float64).to(device)
    (ya * w).sum().backward()
    (yr * w).sum().backward()
    torch.testing.assert_close(xa.grad, xr.grad, rtol=1e-12, atol=1e-13)
    m = actk.nn.ClampedSwiGLU(limit=5.0)
    assert "limit=5.0" in repr(m)
    torch.testing.assert_close(m(x), _gptoss(x, limit=5.0), rtol=1e-13, atol=1e-14)


def test_clamped_swiglu_bfloat16_and_errors():
    x = torch.randn(4, 64, dtype=torch.float64) * 6
    y = F.clamped_swiglu(x.bfloat16())
    torch.testing.assert_close(y.double(), _gptoss(x.bfloat16().double()), rtol=8e-3, atol=1e-2)
    with pytest.raises(actk.ActkError, match="limit"):
        F.clamped_swiglu(x, limit=0.0)
    with pytest.raises(ValueError, match="even"):
        F.clamped_swiglu(x[:, :63], interleaved=True)
    # 3-D input, interleaved, bfloat16: the kernels' reading of the layout against the reference
    x3 = (torch.randn(2, 3, 32, dtype=torch.float64) * 6).bfloat16()
    torch.testing.assert_close(F.clamped_swiglu(x3, interleaved=True).double(), _gptoss(x3.double(), interleaved=True),
                               rtol=8e-3, atol=1e-2)
    assert torch.autograd.gradcheck(lambda a: F.clamped_swiglu(a, interleaved=True),
                                    (torch.randn(3, 8, dtype=torch.float64).requires_grad_(),))
