#!/usr/bin/env python3
"""A PyTorch model whose activations are swapped for actk's, trained on the CPU (and on the GPU when
there is one and libactk was built with CUDA): the swap is one function over the model.

    ACTK_LIBRARY=build/default/libactk.so /usr/bin/python3 examples/torch_mlp.py [--device cuda] [--steps 200]

Prints the loss every few steps and exits 1 if it did not fall to a fifth of its start.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import actk  # noqa: E402

SWAP = {torch.nn.GELU: lambda m: actk.nn.GELU(m.approximate), torch.nn.SiLU: lambda m: actk.nn.SiLU(),
        torch.nn.ReLU: lambda m: actk.nn.ReLU(), torch.nn.Mish: lambda m: actk.nn.Mish(),
        torch.nn.Tanh: lambda m: actk.nn.Tanh()}


def actkify(model):
    """Replaces every activation module of `model` that actk has with actk's, in place."""
    for name, child in model.named_children():
        make = SWAP.get(type(child))
        if make is not None:
            setattr(model, name, make(child))
        else:
            actkify(child)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() and actk.cuda_available() else "cpu")
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = torch.device(args.device)
    x = torch.randn(512, 16, device=dev)
    y = torch.sin(x[:, :4].sum(1, keepdim=True)) + 0.5 * x[:, 4:5] * x[:, 5:6]
    model = torch.nn.Sequential(torch.nn.Linear(16, 128), torch.nn.GELU(), torch.nn.Linear(128, 128), torch.nn.SiLU(),
                                torch.nn.Linear(128, 64), torch.nn.Mish(), torch.nn.Linear(64, 1)).to(dev)
    actkify(model)
    print(f"actk {actk.library_version()} ({actk.library_path()}), PyTorch {torch.__version__}, {dev}")
    print(model)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    first = None
    for step in range(args.steps + 1):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
        if step % 50 == 0:
            print(f"step {step:4d}  loss {loss.item():.5f}")
    ok = loss.item() < 0.2 * first
    print("trained: loss fell from %.4f to %.4f" % (first, loss.item()) if ok else "FAILED: the loss did not fall")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
