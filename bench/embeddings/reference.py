"""One DAL cycle on embeddings the way a typical Python deep-active-learning toolkit runs it,
for bench/embeddings/run.sh.

    python reference.py gen DIR            write the four .npy files (np.save) Quarry also reads
    python reference.py time DIR THREADS   -> one JSON line

The cycle: a linear head (torch.nn.Linear) on the frozen features, 200 epochs at batch 64 on
4,000 labels, SGD lr 0.01, momentum 0.9, weight decay 5e-4, cosine annealing; the feature
rows come through a torch.utils.data.Dataset and a DataLoader(shuffle=True). Then 10,000
unlabeled candidates are scored through a DataLoader (batch 512): margin (top-2 gap) picks
100; BADGE picks 100 by k-means++ seeding on gradient embeddings (p - onehot(argmax)) x
features. Same sizes and settings as Quarry's side (bench_embeddings).
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

N_TRAIN, N_TEST, DIM, CLASSES = 45000, 2000, 384, 10
LABELED, CANDIDATES, QUERY, EPOCHS, BATCH = 4000, 10000, 100, 200, 64


def gen(out):
    # A seeded Gaussian mixture: ten class means on a random 32-dim subspace plus isotropic noise.
    rng = np.random.default_rng(20260101)
    basis = rng.standard_normal((32, DIM)) / np.sqrt(32)
    means = rng.standard_normal((CLASSES, 32)) * 1.5 @ basis
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        y = rng.integers(0, CLASSES, n)
        x = means[y] + rng.standard_normal((n, DIM)) * 1.5
        np.save(f"{out}/{split}_features.npy", x.astype(np.float32))
        np.save(f"{out}/{split}_labels.npy", y.astype(np.int64))


class FeatureDataset(Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def badge(probs, feats, k, rng):
    # Gradient embedding of the last layer for the predicted label, then k-means++ seeding.
    onehot = F.one_hot(probs.argmax(1), probs.shape[1]).float()
    emb = ((probs - onehot).unsqueeze(2) * feats.unsqueeze(1)).flatten(1)
    first = int(emb.norm(dim=1).argmax())
    picked = [first]
    d2 = ((emb - emb[first]) ** 2).sum(1)
    for _ in range(k - 1):
        p = (d2 / d2.sum()).numpy().astype(np.float64)
        nxt = int(rng.choice(len(p), p=p / p.sum()))
        picked.append(nxt)
        d2 = torch.minimum(d2, ((emb - emb[nxt]) ** 2).sum(1))
    return picked


def time_cycle(root, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    x = torch.from_numpy(np.load(f"{root}/train_features.npy"))
    y = torch.from_numpy(np.load(f"{root}/train_labels.npy"))
    perm = torch.randperm(len(x))
    labeled, candidates = perm[:LABELED], perm[LABELED:LABELED + CANDIDATES]
    t0, c0 = time.perf_counter(), time.process_time()
    model = nn.Linear(DIM, CLASSES)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    loader = DataLoader(FeatureDataset(x[labeled], y[labeled]), batch_size=BATCH, shuffle=True)
    model.train()
    for _ in range(EPOCHS):
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        sched.step()
    t_train, c_train = time.perf_counter() - t0, time.process_time() - c0

    def predict():
        model.eval()
        probs, feats = [], []
        with torch.no_grad():
            for xb, _ in DataLoader(FeatureDataset(x[candidates], y[candidates]), batch_size=512):
                probs.append(F.softmax(model(xb), 1))
                feats.append(xb)
        return torch.cat(probs), torch.cat(feats)

    t1 = time.perf_counter()
    probs, _ = predict()
    top2 = probs.topk(2, 1).values
    margin_pick = candidates[(top2[:, 0] - top2[:, 1]).argsort()[:QUERY]]
    t_margin = time.perf_counter() - t1
    t2 = time.perf_counter()
    probs, feats = predict()
    badge_pick = badge(probs, feats, QUERY, np.random.default_rng(1))
    t_badge = time.perf_counter() - t2
    xt = torch.from_numpy(np.load(f"{root}/test_features.npy"))
    yt = torch.from_numpy(np.load(f"{root}/test_labels.npy"))
    with torch.no_grad():
        acc = (model(xt).argmax(1) == yt).float().mean().item()
    assert len(margin_pick) == QUERY and len(set(badge_pick)) == QUERY
    print(json.dumps({"side": "python", "train_seconds": t_train, "margin_seconds": t_margin,
                      "badge_seconds": t_badge, "test_accuracy": acc, "final_loss": loss.item(),
                      "torch": torch.__version__, "threads": threads,
                      "train_cpu_seconds": c_train}))


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(sys.argv[2])
    else:
        time_cycle(sys.argv[2], int(sys.argv[3]))
