"""torch.compile through actk (PyTorch >= 2.4: the torch.library custom ops of actk/_compile.py).
Skipped, saying so, on older PyTorch (CI's Debian 1.13 among them): these run where a newer
PyTorch is installed, e.g. on the GPU machine under tools/gpu-check."""
import pytest
import torch

import actk
from actk import _compile

pytestmark = pytest.mark.skipif(not _compile.REGISTERED,
                                reason=f"torch.library custom ops need PyTorch >= 2.4 (this is {torch.__version__})")


def test_opcheck_every_family():
    x = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    w = torch.rand(8, dtype=torch.float64, requires_grad=True)
    cases = [(torch.ops.actk.activation.default, (x, "gelu", None, None)),
             (torch.ops.actk.activation.default, (x, "softplus", 2.0, 10.0)),
             (torch.ops.actk.softmax.default, (x, -1, False, False)),
             (torch.ops.actk.softmax.default, (x, 0, True, False)),
             (torch.ops.actk.prelu.default, (x, w)),
             (torch.ops.actk.bias_act.default, (x, w, "silu", None, None)),
             (torch.ops.actk.gated.default, (x, "silu", None, None, False)),
             (torch.ops.actk.clamped_swiglu.default, (x, 1.702, 7.0, False)),
             (torch.ops.actk.clamped_swiglu.default, (x, 1.702, 7.0, True)),
             (torch.ops.actk.cross_entropy.default, (x, torch.tensor([1, 0, 7, 3, 2, 5]), None, -100, "mean", 0.1, 0.0, 0.0)),
             (torch.ops.actk.attention_softmax.default, (x.view(1, 2, 3, 8), None, 0.5, True, 0, 0)),
             (torch.ops.actk.attention_softmax.default, (x.view(1, 2, 3, 8), torch.randn(3, 8, dtype=torch.float64), 0.5,
                                                         False, 0, 0))]
    for op, args in cases:
        torch.library.opcheck(op, args)


def test_compile_fullgraph_matches_eager():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32, bias=False), actk.nn.BiasAct(32, "gelu"), torch.nn.Linear(32, 64),
                                actk.nn.SwiGLU(), actk.nn.PReLU(), actk.nn.SiLU(), torch.nn.Linear(32, 8),
                                actk.nn.LogSoftmax(-1))
    x = torch.randn(4, 16)
    eager = model(x)
    eager.sum().backward()
    want = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")  # a graph break would raise
    out = compiled(x)
    out.sum().backward()
    torch.testing.assert_close(out, eager)
    for p, g in zip(model.parameters(), want):
        torch.testing.assert_close(p.grad, g)
