"""Attention-style softmax (issue #17): actk.nn.functional.attention_softmax against
torch.softmax(scale * x + mask, -1) with additive and boolean masks in every broadcast, causal
top-left and bottom-right, values and gradients (x and an additive mask) in float64, float32 and
bfloat16, gradcheck in float64, fully masked rows, the module, and the errors."""
import pytest
import torch

import actk
import actk.nn
import actk.nn.functional as F

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() and actk.cuda_available() else [])


def _torch_ref(x, mask, scale, causal, offset, log=False):
    z = x * scale
    if mask is not None:
        if mask.dtype == torch.bool:
            z = z.masked_fill(~mask, float("-inf"))
        else:
            z = z + mask
    if causal:
        q, k = x.shape[-2], x.shape[-1]
        i = torch.arange(q, device=x.device).view(q, 1)
        j = torch.arange(k, device=x.device).view(1, k)
        z = z.masked_fill(j > i + offset, float("-inf"))
    return torch.log_softmax(z, -1) if log else torch.softmax(z, -1)


def _data(shape, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * 3).to(dtype).to(device)


MASKS = ["none", "add_qk", "add_full", "add_b1hqk", "bool_keypad", "bool_full"]


def _mask(kind, B, H, Q, K, dtype, device):
    g = torch.Generator().manual_seed(7)
    if kind == "none":
        return None
    if kind.startswith("add"):
        shape = {"add_qk": (Q, K), "add_full": (B, H, Q, K), "add_b1hqk": (1, H, Q, K)}[kind]
        m = torch.randn(*shape, generator=g, dtype=torch.float64)
        m[..., 1] = float("-inf")
        return m.to(dtype).to(device)
    shape = {"bool_keypad": (B, 1, 1, K), "bool_full": (B, H, Q, K)}[kind]
    m = torch.rand(*shape, generator=g) > 0.3
    m[..., 0] = True  # every row keeps a key
    return m.to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("causal,offset", [(False, 0), (True, 0), (True, 3)])
def test_matches_torch_float64(device, mask_kind, causal, offset):
    B, H, Q, K = 2, 3, 4, 7
    x = _data((B, H, Q, K), torch.float64, device)
    mask = _mask(mask_kind, B, H, Q, K, torch.float64, device)
    xa, xt = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya = F.attention_softmax(xa, mask, 0.35, causal, offset)
    yt = _torch_ref(xt, mask, 0.35, causal, offset)
    torch.testing.assert_close(ya, yt, rtol=1e-12, atol=1e-14)
    g = torch.randn_like(yt)
    (ya * g).sum().backward()
    (yt * g).sum().backward()
    torch.testing.assert_close(xa.grad, xt.grad, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_matches_torch_low_precision(device, dtype):
    B, H, Q, K = 2, 2, 8, 40
    x = _data((B, H, Q, K), dtype, device, seed=1)
    mask = _mask("add_qk", B, H, Q, K, dtype, device)
    y = F.attention_softmax(x, mask, 0.125, causal=True)
    ref = _torch_ref(x.double(), mask.double(), 0.125, True, 0)
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == torch.float32 else dict(rtol=8e-3, atol=1e-4)
    torch.testing.assert_close(y.double(), ref, **tol)


@pytest.mark.parametrize("device", DEVICES)
def test_log_and_fully_masked_rows(device):
    x = _data((1, 1, 5, 6), torch.float64, device)
    y = F.attention_softmax(x, None, 1.0, causal=True, causal_offset=-2, log=True, masked_rows_zero=True)
    assert torch.all(y[0, 0, :2] == float("-inf"))  # rows 0, 1: no key j <= i - 2
    torch.testing.assert_close(y[0, 0, 2:], _torch_ref(x, None, 1.0, True, -2, log=True)[0, 0, 2:])
    y = F.attention_softmax(x, None, 1.0, causal=True, causal_offset=-2)
    assert torch.isnan(y[0, 0, :2]).all()  # without the flag: NaN, as torch.softmax of an all -inf row


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_x_and_additive_mask(device):
    x = _data((2, 2, 3, 5), torch.float64, device, seed=2).requires_grad_()
    m = _data((1, 2, 1, 5), torch.float64, device, seed=3).requires_grad_()  # broadcast over batch and queries
    assert torch.autograd.gradcheck(lambda a, b: F.attention_softmax(a, b, 0.6, causal=True, causal_offset=1), (x, m))


def test_module_and_errors():
    m = actk.nn.AttentionSoftmax(scale=0.5, causal=True)
    assert "causal=True" in repr(m) and "scale=0.5" in repr(m)
    x = _data((1, 2, 3, 4), torch.float32, "cpu")
    torch.testing.assert_close(m(x), _torch_ref(x, None, 0.5, True, 0))
    with pytest.raises(ValueError, match=r"\[batch, heads, q, k\]"):
        F.attention_softmax(x[0])
    with pytest.raises(TypeError, match="torch.bool"):
        F.attention_softmax(x, torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="mask"):
        F.attention_softmax(x, torch.zeros(3, 5))
    with pytest.raises(actk.ActkError, match="mask_heads"):  # 3 heads in the mask, 2 in x: not broadcastable
        F.attention_softmax(x, torch.zeros(1, 3, 3, 4))
    with pytest.raises(actk.ActkError, match="16384"):
        F.attention_softmax(torch.zeros(1, 1, 1, 16385))
