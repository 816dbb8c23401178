#!/usr/bin/env python3
"""Write a small embeddings data set in the format Quarry's `embeddings` dataset reads:
train_features.npy, train_labels.npy, test_features.npy, test_labels.npy, made with np.save.

    python3 scripts/make_embeddings.py [OUT_DIR]      (default: data/embeddings-quickstart)

The vectors stand in for a frozen backbone's embeddings: a seeded mixture of ten Gaussian
classes in 128 dimensions whose means lie on a 16-dimensional subspace and overlap, so a
linear head reaches roughly 85% with all labels and about 70% with 200, so the choice of labels matters. Nothing is downloaded;
the same seed gives the same bytes. Only numpy is needed.
"""
import os
import sys

import numpy as np

DIM, CLASSES, SUBSPACE = 128, 10, 16
N_TRAIN, N_TEST = 6000, 1000


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("data", "embeddings-quickstart")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(13)
    basis = np.linalg.qr(rng.standard_normal((DIM, SUBSPACE)))[0].T  # SUBSPACE x DIM, orthonormal rows
    means = rng.standard_normal((CLASSES, SUBSPACE)) * 1.1 @ basis
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        y = rng.integers(0, CLASSES, n)
        x = means[y] + rng.standard_normal((n, DIM)) * 1.4
        np.save(os.path.join(out, f"{split}_features.npy"), x.astype(np.float32))
        np.save(os.path.join(out, f"{split}_labels.npy"), y.astype(np.int64))
    print(f"wrote {N_TRAIN} train and {N_TEST} test vectors of {DIM} values, {CLASSES} classes, to {out}")


if __name__ == "__main__":
    main()
