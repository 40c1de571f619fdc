#!/usr/bin/env bash
# `pip install ./python` as a user types it, into a fresh virtual environment that sees the
# system's PyTorch, with no package index (proves no network is needed); then `import actk` from
# another folder runs an op through the installed package and the libactk of ACTK_LIBRARY.
#   python_install.sh PYTHON PACKAGE_DIR VENV_DIR
set -euo pipefail
py=$1 pkg=$2 venv=$3
rm -rf "$venv"
"$py" -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install --no-index --quiet --disable-pip-version-check "$pkg"
cd "$(mktemp -d)"
"$venv/bin/python" - <<'PY'
import os, torch, actk
assert "site-packages" in actk.__file__, actk.__file__
y = actk.nn.functional.gelu(torch.tensor([1.0, -1.0]))
want = torch.nn.functional.gelu(torch.tensor([1.0, -1.0], dtype=torch.float64)).float()
assert torch.equal(y, want), (y, want)
print("installed actk", actk.__version__, "from", os.path.dirname(actk.__file__), "with", actk.library_path())
PY
