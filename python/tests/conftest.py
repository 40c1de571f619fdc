# The tests import the package from this source tree (python/) unless it is installed, and load
# the libactk that ACTK_LIBRARY names or the build folder holds (see actk/_lib.py).
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seeded():
    """Every test draws the same random tensors on every run."""
    torch.manual_seed(0)
