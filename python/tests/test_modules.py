"""actk.nn modules: PyTorch's constructor defaults, extra_repr, and a small model that trains."""
import inspect
import os
import subprocess
import sys

import pytest
import torch

import actk
import actk.nn as ann

PAIRS = ["ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Softplus", "Softsign", "Sigmoid",
         "Tanh", "LogSigmoid", "Hardtanh", "Hardsigmoid", "Hardswish", "Softshrink", "Hardshrink", "Tanhshrink",
         "Threshold", "PReLU", "Softmax", "LogSoftmax", "GLU"]


@pytest.mark.parametrize("name", PAIRS)
def test_constructor_defaults_match_torch(name):
    ours = inspect.signature(getattr(ann, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.nn, name).__init__).parameters
    for p, v in theirs.items():
        if p in ("self", "device", "dtype") or v.default is inspect.Parameter.empty or v.default is None:
            # None: Hardtanh's deprecated min_value / max_value aliases
            continue
        if name in ("Softmax", "LogSoftmax") and p == "dim":
            continue  # actk asks for dim (PyTorch's implicit dim is deprecated)
        assert p in ours, f"{name} lacks parameter {p}"
        assert ours[p].default == v.default, f"{name}.{p}: {ours[p].default} vs torch's {v.default}"


@pytest.mark.parametrize("name,args", [("ReLU", ()), ("LeakyReLU", (0.1,)), ("ELU", (0.5,)), ("GELU", ("tanh",)),
                                       ("Softplus", (2.0, 10.0)), ("Hardtanh", (-2.0, 2.0)), ("Softshrink", (0.2,)),
                                       ("Threshold", (0.1, 0.0)), ("Softmax", (1,)), ("LogSoftmax", (0,)),
                                       ("PReLU", (3,))])
def test_modules_match_torch(name, args):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    ours, theirs = getattr(ann, name)(*args).double(), getattr(torch.nn, name)(*args).double()
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-14, atol=1e-15)
    assert repr(ours) == repr(theirs)


def test_extra_repr_of_actk_modules():
    assert repr(ann.BiasAct(8, "gelu_tanh")) == "BiasAct(features=8, act='gelu_tanh')"
    assert repr(ann.SwiGLU()) == "SwiGLU(act='silu')"
    assert repr(ann.Activation("swish", 1.5)) == "Activation('swish', 1.5)"


def test_a_small_model_trains():
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    y = (x[:, :1] * x[:, 1:2]).tanh() + 0.1 * x[:, 2:3]
    model = torch.nn.Sequential(torch.nn.Linear(8, 64, bias=False), ann.BiasAct(64, "gelu"), torch.nn.Linear(64, 128),
                                ann.SwiGLU(), torch.nn.Linear(64, 32), ann.PReLU(), torch.nn.Linear(32, 32), ann.SiLU(),
                                torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses[::30]
    assert model[5].weight.grad is not None and model[1].bias.grad is not None


def test_library_is_found_and_named():
    path = actk.library_path()
    assert os.path.isfile(path)
    env = os.environ.get("ACTK_LIBRARY")
    if env and os.path.isfile(env):
        assert path == env  # an explicit choice is what is loaded
    assert actk.library_version().count(".") == 2
    assert actk.cpu_simd() in ("AVX-512", "AVX2", "portable")


def test_a_missing_library_is_a_clear_error(tmp_path):
    code = ("import actk\n")
    env = dict(os.environ, ACTK_LIBRARY=str(tmp_path / "nowhere" / "libactk.so"),
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(actk.__file__))))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       cwd=str(tmp_path))
    assert r.returncode != 0
    assert "libactk not found" in r.stderr and "nowhere" in r.stderr
