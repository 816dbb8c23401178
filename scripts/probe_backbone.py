#!/usr/bin/env python3
"""How good are a Fashion-MNIST backbone's features? A logistic-regression probe (scikit-learn) on the
backbone's features and, beside it, on the raw pixels, each with the same 1,000 labeled train images
(50,000-50,999, outside the 10,000 that scripts/make_backbone.py trains on) and the first 2,000 test images.

    /usr/bin/python3 scripts/probe_backbone.py models/fmnist_simclr.pt
"""
import gzip
import os
import sys

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_backbone import MEAN, STD, read_idx_images  # noqa: E402

DIR = "/usr/share/datasets/fashion-mnist/"


def read_idx_labels(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if int.from_bytes(raw[:4], "big") != 2049:
        raise SystemExit(f"{path}: not an IDX label file")
    return np.frombuffer(raw[8:], dtype=np.uint8)


def probe(train, y_train, test, y_test):
    mu, sd = train.mean(0), train.std(0) + 1e-6
    clf = LogisticRegression(max_iter=2000).fit((train - mu) / sd, y_train)
    return 100 * clf.score((test - mu) / sd, y_test)


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    net = torch.jit.load(sys.argv[1])
    x_tr = read_idx_images(DIR + "train-images-idx3-ubyte.gz")[50000:51000]
    y_tr = read_idx_labels(DIR + "train-labels-idx1-ubyte.gz")[50000:51000]
    x_te = read_idx_images(DIR + "t10k-images-idx3-ubyte.gz")[:2000]
    y_te = read_idx_labels(DIR + "t10k-labels-idx1-ubyte.gz")[:2000]
    with torch.no_grad():
        feats = [net((torch.from_numpy(x.copy()).float().div(255).unsqueeze(1) - MEAN) / STD).numpy() for x in (x_tr, x_te)]
    print(f"raw pixels: {probe(x_tr.reshape(len(x_tr), -1) / 255.0, y_tr, x_te.reshape(len(x_te), -1) / 255.0, y_te):.2f} %")
    print(f"backbone:   {probe(feats[0], y_tr, feats[1], y_te):.2f} %")


if __name__ == "__main__":
    main()
