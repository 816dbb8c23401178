#!/usr/bin/env python3
"""ctest make_backbone: scripts/make_backbone.py, tiny, twice with one seed and once with another.
The files must load as TorchScript, map 1x28x28 batches to 128-d features, give the same features
for the same seed and different ones for another seed. Then, given the quarry executable
(make_backbone_test.py [QUARRY]), a real `quarry run` with the exported file as a frozen
[backbone] in front of a linear head, on 300 Fashion-MNIST images written as an image_folder
(20 train and 10 test images per class): it must embed all 300 into 128 features and finish its cycles."""
import gzip
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
script = os.path.join(here, "..", "scripts", "make_backbone.py")
FMNIST = "/usr/share/datasets/fashion-mnist/"


def read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read()[offset:], dtype=np.uint8)


def write_image_folder(root):
    """Fashion-MNIST's first 20 train and 10 test images of each class as PNG files, one folder per
    class: 200 train, 100 test."""
    for split, prefix, per_class in (("train", "train", 20), ("test", "t10k", 10)):
        x = read_idx(FMNIST + prefix + "-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
        y = read_idx(FMNIST + prefix + "-labels-idx1-ubyte.gz", 8)
        for label in range(10):
            d = os.path.join(root, split, f"class{label}")
            os.makedirs(d)
            for i in np.flatnonzero(y == label)[:per_class]:
                Image.fromarray(x[i], mode="L").save(os.path.join(d, f"{i:05d}.png"))


PIPELINE = """[run]
name = "make-backbone-test"
seeds = [1]
device = "cpu"
threads = 2
results = "{dir}/runs"

[dataset]
name = "image_folder"
path = "{dir}/images"
channels = 1
image_size = 28
cache_dir = "{dir}/cache"

[backbone]
file = "{backbone}"
input_size = 28
mean = [0.2860]
std = [0.3530]
finetune = false
cache_dir = "{dir}/cache"

[model]
name = "linear"

[train]
epochs = 20
batch_size = 16
lr = 0.05
warmup_epochs = 0
augment = false

[al]
initial = 20
query_size = 20
budget = 60

[[strategies]]
name = "margin"
"""

with tempfile.TemporaryDirectory() as tmp:
    def make(name, seed):
        out = os.path.join(tmp, name)
        subprocess.run([sys.executable, script, out, "--images", "512", "--epochs", "1", "--batch", "128",
                        "--seed", str(seed)], check=True)
        return out
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    files = make("a.pt", 3), make("b.pt", 3), make("c.pt", 4)
    a, b, c = (torch.jit.load(f)(x) for f in files)
    assert a.shape == (5, 128), a.shape
    assert torch.isfinite(a).all()
    assert torch.equal(a, b), "same seed gave different weights"
    assert not torch.allclose(a, c), "different seeds gave the same weights"
    if len(sys.argv) > 1:
        write_image_folder(os.path.join(tmp, "images"))
        pipeline = os.path.join(tmp, "frozen.toml")
        with open(pipeline, "w") as f:
            f.write(PIPELINE.format(dir=tmp, backbone=files[0]))
        env = dict(os.environ, QUARRY_PLUGIN_PATH="")
        r = subprocess.run([sys.argv[1], "run", pipeline], capture_output=True, text=True, env=env, timeout=300)
        out = r.stdout + r.stderr
        assert r.returncode == 0, out
        assert re.search(r"embedded 300 images into 128 features", out), out
        accs = [float(v) for v in re.findall(r"\d+ labels: test acc ([0-9.]+)", out)]
        assert len(accs) == 3, out
        # 100 test images over 10 classes: well above chance with 60 labels on these features.
        assert accs[-1] > 0.2, out
        print(f"quarry run with the frozen backbone: test acc {accs}")
print("make_backbone: ok")
