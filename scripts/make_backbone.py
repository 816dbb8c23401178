#!/usr/bin/env python3
"""Make a pretrained backbone for Quarry's `[backbone]` section without downloading anything:
a small CNN trained self-supervised (SimCLR's contrastive NT-Xent loss, Chen et al. 2020) on the
Fashion-MNIST *train images only*, exported as TorchScript.

    /usr/bin/python3 scripts/make_backbone.py [OUT.pt] [--images N] [--epochs E] [--seed S]

It uses no label of any image and no test image, so a DAL run on Fashion-MNIST with this backbone
starts from features that know nothing of the classes (as a foundation model's would not know a
user's classes). Defaults: 10,000 train images, 3 epochs, seed 7 (about 5 minutes on 2 idle CPU cores);
the same seed gives the same weights on the same torch build.

The module maps a normalised 1 x 28 x 28 image batch (mean 0.2860, std 0.3530, Fashion-MNIST's train
statistics) to 128-d features; in a pipeline:

    [backbone]
    file = "models/fmnist_simclr.pt"
    input_size = 28
    mean = [0.2860]
    std = [0.3530]
    finetune = false

TorchScript loads only into the PyTorch line that wrote it: run this script with Debian's
python3-torch (1.13) for the default build, with .venv/bin/python for a --torch2 build.
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD, DIM = 0.2860, 0.3530, 128
DATA = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        raise SystemExit(f"{path}: not an IDX image file (magic {magic})")
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, rows, cols)


class Encoder(nn.Module):
    """Four conv blocks -> global average pool -> 128-d features (what Quarry sees)."""

    def __init__(self):
        super().__init__()
        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
        self.body = nn.Sequential(block(1, 32), block(32, 64), nn.MaxPool2d(2), block(64, 128), nn.MaxPool2d(2),
                                  block(128, DIM))

    def forward(self, x):
        return self.body(x).mean(dim=(2, 3))


def augment(x, g):
    """SimCLR-style views for grayscale 28x28: random resized crop (scale 0.5-1), flip, brightness/contrast."""
    n = x.shape[0]
    scale = torch.empty(n).uniform_(0.5, 1.0, generator=g).sqrt()
    tx = torch.empty(n).uniform_(-1, 1, generator=g) * (1 - scale)
    ty = torch.empty(n).uniform_(-1, 1, generator=g) * (1 - scale)
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale * flip
    theta[:, 1, 1] = scale
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    v = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    contrast = torch.empty(n, 1, 1, 1).uniform_(0.6, 1.4, generator=g)
    bright = torch.empty(n, 1, 1, 1).uniform_(-0.2, 0.2, generator=g)
    mean = v.mean(dim=(2, 3), keepdim=True)
    v = ((v - mean) * contrast + mean + bright).clamp(0, 1)
    return (v - MEAN) / STD


def nt_xent(z1, z2, temperature=0.2):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.t() / temperature
    sim.fill_diagonal_(float("-inf"))
    n = z1.shape[0]
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=os.path.join("models", "fmnist_simclr.pt"))
    ap.add_argument("--images", type=int, default=10000, help="train images used (first N; no labels read)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    images = torch.from_numpy(read_idx_images(DATA)[: a.images].copy()).float().div_(255).unsqueeze(1)
    enc = Encoder()
    proj = nn.Sequential(nn.Linear(DIM, DIM), nn.ReLU(), nn.Linear(DIM, 64))  # SimCLR's projection head, dropped
    params = list(enc.parameters()) + list(proj.parameters())
    opt = torch.optim.SGD(params, lr=0.3, momentum=0.9, weight_decay=1e-4)
    steps = a.epochs * (len(images) // a.batch)
    if steps == 0:
        ap.error(f"no training step: --epochs {a.epochs} with {len(images)} images at --batch {a.batch}")
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.3, total_steps=steps, pct_start=0.1)
    start, step = time.time(), 0
    for epoch in range(a.epochs):
        order = torch.randperm(len(images), generator=g)
        for b in range(len(images) // a.batch):
            x = images[order[b * a.batch:(b + 1) * a.batch]]
            loss = nt_xent(proj(enc(augment(x, g))), proj(enc(augment(x, g))))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 20 == 0 or step == steps:
                el = time.time() - start
                print(f"epoch {epoch + 1}/{a.epochs} step {step}/{steps} loss {loss.item():.3f} "
                      f"{el:.0f}s, ETA {el / step * (steps - step):.0f}s", flush=True)
    enc.eval()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    traced = torch.jit.trace(enc, torch.zeros(2, 1, 28, 28))
    traced.save(a.out)
    print(f"wrote {a.out}: 1x28x28 (mean {MEAN}, std {STD}) -> {DIM}-d features, torch {torch.__version__}")


if __name__ == "__main__":
    main()
