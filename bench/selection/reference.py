"""Reference Core-Set and BADGE, written the way common deep active learning toolkits write them.

    python reference.py DIR coreset|badge N C K     -> one JSON line: time_s, peak_bytes

BADGE: the N x (C*D) gradient embedding is materialised in NumPy, then k-means++ seeding keeps a
running minimum: every step computes the squared distance of all points to the newest centre and
samples the next one by D^2 with NumPy. Core-Set: torch.cdist for the N x L distances to the
labeled set, then one cdist to each new centre per step. Both read the .npy files that
bench_selection wrote. Peak memory: the process's RSS high-water mark (reset through
/proc/self/clear_refs) above its RSS just before the selection, as bench_selection measures it.
"""
import json
import sys
import time

import numpy as np
import torch


def status_bytes(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return -1


def badge(probs, feats, k, seed=0):
    n = probs.shape[0]
    a = -probs
    a[np.arange(n), probs.argmax(1)] += 1.0
    emb = (a[:, :, None] * feats[:, None, :]).reshape(n, -1)  # N x C*D, float32
    rng = np.random.default_rng(seed)
    centres = [int(np.argmax(np.linalg.norm(emb, axis=1)))]
    nearest = np.full(n, np.inf)
    while len(centres) < k:
        diff = emb - emb[centres[-1]]
        nearest = np.minimum(nearest, np.einsum("ij,ij->i", diff, diff))
        del diff
        nearest[centres] = 0.0
        p = nearest / nearest.sum()
        centres.append(int(rng.choice(n, p=p)))
    return centres


def coreset(feats, labeled, k):
    x = torch.from_numpy(feats)
    nearest = torch.cdist(x, torch.from_numpy(labeled)).min(dim=1).values
    centres = []
    for _ in range(k):
        j = int(torch.argmax(nearest))
        centres.append(j)
        nearest = torch.minimum(nearest, torch.cdist(x, x[j : j + 1]).squeeze(1))
    return centres


def main():
    folder, which, n, c, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(2)
    feats = np.load(f"{folder}/features_{n}.npy")
    other = np.load(f"{folder}/labeled.npy" if which == "coreset" else f"{folder}/probs_{n}_{c}.npy")
    # Warm up as a DAL loop's process is warm when it selects (thread pools started, BLAS
    # buffers allocated): the same algorithm once on a small slice, as bench_selection does.
    if which == "coreset":
        coreset(feats[:1000], other[:200], 10)
    else:
        badge(other[:1000], feats[:1000], 10, seed=1)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_bytes("VmRSS:")
    t0 = time.perf_counter()
    picked = coreset(feats, other, k) if which == "coreset" else badge(other, feats, k)
    seconds = time.perf_counter() - t0
    peak = status_bytes("VmHWM:") - before
    print(json.dumps({"time_s": round(seconds, 4), "peak_bytes": peak, "picked": len(picked), "first": picked[0], "picks": [int(i) for i in picked]}))


if __name__ == "__main__":
    main()
