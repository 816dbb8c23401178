#!/usr/bin/env python3
"""ctest make_backbone: scripts/make_backbone.py, tiny, twice with one seed and once with another.
The files must load as TorchScript, map 1x28x28 batches to 128-d features, give the same features
for the same seed and different ones for another seed."""
import os
import subprocess
import sys
import tempfile

import torch

script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "make_backbone.py")
with tempfile.TemporaryDirectory() as tmp:
    def make(name, seed):
        out = os.path.join(tmp, name)
        subprocess.run([sys.executable, script, out, "--images", "512", "--epochs", "1", "--batch", "128",
                        "--seed", str(seed)], check=True)
        return torch.jit.load(out)
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    a, b, c = (make("a.pt", 3)(x), make("b.pt", 3)(x), make("c.pt", 4)(x))
    assert a.shape == (5, 128), a.shape
    assert torch.isfinite(a).all()
    assert torch.equal(a, b), "same seed gave different weights"
    assert not torch.allclose(a, c), "different seeds gave the same weights"
print("make_backbone: ok")
