#!/usr/bin/env python3
"""Fashion-MNIST as embeddings for bench/hpo: the pixels (/255) projected on their first
DIM principal components (fitted on the 60,000 training images), scaled to unit variance
per component, written as the four .npy files the `embeddings` dataset reads.

    /usr/bin/python3 bench/hpo/make_pool.py OUT_DIR [FASHION_MNIST_DIR] [DIM]

Deterministic (no random draws). Needs numpy only.
"""
import gzip
import os
import sys

import numpy as np


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    out = sys.argv[1]
    src = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    dim = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    os.makedirs(out, exist_ok=True)
    xtr = idx(os.path.join(src, "train-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float64) / 255
    xte = idx(os.path.join(src, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float64) / 255
    ytr = idx(os.path.join(src, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    yte = idx(os.path.join(src, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    mean = xtr.mean(0)
    cov = np.cov(xtr - mean, rowvar=False)
    w, v = np.linalg.eigh(cov)  # ascending
    order = np.argsort(w)[::-1][:dim]
    basis = v[:, order]
    basis *= np.sign(basis[np.abs(basis).argmax(0), range(dim)])  # a fixed sign per component
    scale = np.sqrt(w[order])
    for name, x, y in (("train", xtr, ytr), ("test", xte, yte)):
        f = ((x - mean) @ basis) / scale
        np.save(os.path.join(out, f"{name}_features.npy"), f.astype(np.float32))
        np.save(os.path.join(out, f"{name}_labels.npy"), y)
    print(f"wrote {len(ytr)} train and {len(yte)} test vectors of {dim} principal components to {out}")


if __name__ == "__main__":
    main()
