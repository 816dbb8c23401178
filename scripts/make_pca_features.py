#!/usr/bin/env python3
"""Label-free features for Fashion-MNIST, for the `embeddings` dataset (configs/features/): the
principal components of the pixels, fitted on the 60,000 *train images only* (no label, no test
image), each image projected onto the first D of them and the result scaled so the train
features have unit variance on average per dimension.

    /usr/bin/python3 scripts/make_pca_features.py [OUT_DIR] [--dim D] [--probe]

Writes OUT_DIR/{train,test}_{features,labels}.npy (float32 N x D; int64 labels), the four files
the `embeddings` dataset reads (default OUT_DIR data/fmnist-pca64, D = 64). Deterministic: the
same files on every run (a full SVD of the 784 x 784 covariance, signs fixed so that each
component's largest entry is positive). `--probe` also prints the logistic-regression probe of
scripts/probe_backbone.py (1,000 labeled train images 50,000-50,999, the first 2,000 test images)
on these features and on the raw pixels.
"""
import argparse
import gzip
import os

import numpy as np

DIR = "/usr/share/datasets/fashion-mnist/"


def read_idx(path, magic):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if int.from_bytes(raw[:4], "big") != magic:
        raise SystemExit(f"{path}: not an IDX file of magic {magic}")
    if magic == 2051:
        n, rows, cols = (int.from_bytes(raw[4 * i:4 * i + 4], "big") for i in (1, 2, 3))
        return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, rows * cols)
    return np.frombuffer(raw[8:], dtype=np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default="data/fmnist-pca64")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--probe", action="store_true")
    a = ap.parse_args()
    x_train = read_idx(DIR + "train-images-idx3-ubyte.gz", 2051).astype(np.float64) / 255.0
    x_test = read_idx(DIR + "t10k-images-idx3-ubyte.gz", 2051).astype(np.float64) / 255.0
    y_train = read_idx(DIR + "train-labels-idx1-ubyte.gz", 2049).astype(np.int64)
    y_test = read_idx(DIR + "t10k-labels-idx1-ubyte.gz", 2049).astype(np.int64)
    if not 1 <= a.dim <= x_train.shape[1]:
        raise SystemExit(f"--dim must be in 1..{x_train.shape[1]}, got {a.dim}")
    mean = x_train.mean(0)
    cov = (x_train - mean).T @ (x_train - mean) / len(x_train)
    eigval, eigvec = np.linalg.eigh(cov)  # ascending
    order = np.argsort(eigval)[::-1][: a.dim]
    comps = eigvec[:, order]
    comps *= np.sign(comps[np.abs(comps).argmax(0), np.arange(a.dim)])
    scale = np.sqrt(eigval[order].mean())
    f_train = ((x_train - mean) @ comps / scale).astype(np.float32)
    f_test = ((x_test - mean) @ comps / scale).astype(np.float32)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "train_features.npy"), f_train)
    np.save(os.path.join(a.out, "train_labels.npy"), y_train)
    np.save(os.path.join(a.out, "test_features.npy"), f_test)
    np.save(os.path.join(a.out, "test_labels.npy"), y_test)
    kept = eigval[order].sum() / eigval.sum()
    print(f"{a.out}: {len(f_train)} train, {len(f_test)} test features of {a.dim} dims "
          f"({100 * kept:.1f}% of the pixel variance)")
    if a.probe:
        from sklearn.linear_model import LogisticRegression

        def probe(tr, te):
            mu, sd = tr.mean(0), tr.std(0) + 1e-6
            clf = LogisticRegression(max_iter=2000).fit((tr - mu) / sd, y_train[50000:51000])
            return 100 * clf.score((te - mu) / sd, y_test[:2000])

        print(f"probe, 1,000 labels: raw pixels {probe(x_train[50000:51000], x_test[:2000]):.2f} %, "
              f"PCA-{a.dim} {probe(f_train[50000:51000], f_test[:2000]):.2f} %")


if __name__ == "__main__":
    main()
