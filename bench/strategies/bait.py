"""Reference BAIT, written the way common deep active learning toolkits write it (PyTorch,
float32, every per-point gradient matrix materialised).

    python bait.py DIR N C K VARIANT full|extrapolate|needs  -> one JSON line

VARIANT: ce (expectation over every class), ce_top1, bce, bce_top1 (Fast Fishing). The
representations are the N x r x P per-point gradient matrices (P = C*D for ce, D for bce); the
pool Fisher and the labeled Fisher are accumulated over batches of 32 as batched r x P
products (true means, as bench_bait's kernel computes them); each forward step scores every
candidate with xt @ Minv @ F @ Minv @ xt^T and (I + xt @ Minv @ xt^T)^-1, and commits a
Woodbury update; backward steps do the same on the chosen points. Same algorithm and tie order
as Quarry (argmax, lowest position first), float32 instead of float64.

full: runs it. extrapolate (for cases that would take hours or not fit in memory): times the
Fisher over the first 2,000 points and 2 forward steps over the first 300 candidates, then
scales each part linearly (Fisher: points; forward: candidates x steps; backward: chosen points
x steps; updates: steps) to the full case and reports that estimate, labelled so, with the
memory the full materialised case needs.
"""
import json
import math
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


def grad_repr(probs, feats, variant):
    n, c = probs.shape
    if variant == "ce":
        factor = torch.eye(c)[:, None] - probs  # C x N x C
        emb = torch.einsum("jnh,nd->njhd", factor, feats).flatten(2)
        return torch.sqrt(probs)[:, :, None] * emb
    if variant == "ce_top1":
        factor = -probs.clone()
        factor[torch.arange(n), probs.argmax(1)] += 1.0
        return torch.einsum("nh,nd->nhd", factor, feats).flatten(1)[:, None, :]
    pmax = probs.max(dim=1).values
    if variant == "bce":
        factor = torch.stack((1 - pmax, -pmax), dim=1)
        emb = factor[:, :, None] * feats[:, None, :]
        return torch.sqrt(torch.stack((pmax, 1 - pmax), dim=1))[:, :, None] * emb
    if variant == "bce_top1":
        return (1 - pmax)[:, None, None] * feats[:, None, :]
    raise ValueError(variant)


def fisher(repr_, total):
    out = torch.zeros(repr_.shape[-1], repr_.shape[-1])
    for i in range(0, len(repr_), 32):
        b = repr_[i : i + 32]
        out += torch.matmul(b.transpose(1, 2), b).sum(0) / total
    return out


def score(xt, inv, fisher_all, sign):
    eye = sign * torch.eye(xt.shape[1])
    inner = torch.linalg.inv(eye + xt @ inv @ xt.transpose(1, 2))
    return torch.diagonal(xt @ inv @ fisher_all @ inv @ xt.transpose(1, 2) @ inner, dim1=-2, dim2=-1).sum(-1)


def update(inv, x, sign):
    x = x[None]
    inner = torch.linalg.inv(sign * torch.eye(x.shape[1]) + x @ inv @ x.transpose(1, 2))
    return (inv - inv @ x.transpose(1, 2) @ inner @ x @ inv)[0]


def bait(repr_u, fisher_all, fisher_labeled, k, n_labeled, lmb=1.0, forward_limit=None, timings=None):
    dim = repr_u.shape[-1]
    t0 = time.perf_counter()
    inv = torch.linalg.inv(lmb * torch.eye(dim) + fisher_labeled * n_labeled / (n_labeled + k))
    if timings is not None:
        timings["inverse"] = time.perf_counter() - t0
    repr_u = repr_u * math.sqrt(k / (n_labeled + k))
    chosen = []
    steps = min(len(repr_u), 2 * k) if forward_limit is None else forward_limit
    t_score = t_update = 0.0
    for _ in range(steps):
        t0 = time.perf_counter()
        trace = score(repr_u, inv, fisher_all, 1.0)
        trace[chosen] = -float("inf")
        ind = int(torch.argmax(trace))
        t1 = time.perf_counter()
        chosen.append(ind)
        inv = update(inv, repr_u[ind], 1.0)
        t_score += t1 - t0
        t_update += time.perf_counter() - t1
    if timings is not None:
        timings["score_per_point_step"] = t_score / (steps * len(repr_u))
        timings["update_per_step"] = t_update / steps
    if forward_limit is not None:
        return chosen
    while len(chosen) > k:
        trace = score(repr_u[chosen], inv, fisher_all, -1.0)
        drop = int(torch.argmax(trace))
        inv = update(inv, repr_u[chosen[drop]], -1.0)
        del chosen[drop]
    return chosen


def main():
    folder, n, c, k, variant, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
    torch.set_num_threads(2)
    if mode == "needs":  # a case that cannot fit: only what it would hold
        rank = {"ce": c, "ce_top1": 1, "bce": 2, "bce_top1": 1}[variant]
        dim = (c if variant.startswith("ce") else 1) * 512
        needs = 4 * ((n + 4000) * rank * dim + 3 * dim * dim + 32 * dim * dim + 2 * n * rank * dim)
        print(json.dumps({"skipped": f"needs {needs / 1e9:.0f} GB", "needs_bytes": needs}))
        return
    feats = torch.from_numpy(np.load(f"{folder}/features_{n}.npy"))
    probs = torch.from_numpy(np.load(f"{folder}/probs_{n}_{c}.npy"))
    lfeats = torch.from_numpy(np.load(f"{folder}/labeled_features.npy"))
    lprobs = torch.from_numpy(np.load(f"{folder}/labeled_probs_{c}.npy"))
    n_labeled = len(lfeats)
    rank = {"ce": c, "ce_top1": 1, "bce": 2, "bce_top1": 1}[variant]
    dim = (c if variant.startswith("ce") else 1) * feats.shape[1]
    # What the materialised full case holds: the representations, the two Fisher matrices and the
    # inverse, one batch of 32 P x P products, and the N x r x P step temporaries.
    needs = 4 * ((n + n_labeled) * rank * dim + 3 * dim * dim + 32 * dim * dim + 2 * n * rank * dim)
    # Warm up as a DAL loop's process is warm when it selects: the same algorithm on a small slice.
    wr = grad_repr(probs[:200], feats[:200], variant)
    bait(wr, fisher(wr, 200), fisher(wr[:50], 50), 5, 50)
    del wr
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_bytes("VmRSS:")
    t0 = time.perf_counter()
    c0 = time.process_time()
    if mode == "full":
        repr_u = grad_repr(probs, feats, variant)
        repr_l = grad_repr(lprobs, lfeats, variant)
        total = n + n_labeled
        fisher_all = fisher(repr_u, total) + fisher(repr_l, total)
        fisher_labeled = fisher(repr_l, n_labeled)
        picked = bait(repr_u, fisher_all, fisher_labeled, k, n_labeled)
        seconds = time.perf_counter() - t0
        out = {"time_s": round(seconds, 3), "cpu_s": round(time.process_time() - c0, 3), "picks": [int(i) for i in picked]}
    else:
        sub_f, sub_n, sub_steps = min(2000, n), min(300, n), 2
        repr_s = grad_repr(probs[:sub_f], feats[:sub_f], variant)
        t1 = time.perf_counter()
        fisher_s = fisher(repr_s, sub_f)
        # representations of n + L points, the pool Fisher over n + L, the labeled one over L
        fisher_time = (t1 - t0) * (n + n_labeled) / sub_f + (time.perf_counter() - t1) * (n + 2 * n_labeled) / sub_f
        timings = {}
        bait(repr_s[:sub_n], fisher_s, fisher_s, k, n_labeled, forward_limit=sub_steps, timings=timings)
        point_steps = 2 * k * n + sum(range(k + 1, 2 * k + 1))  # forward: all candidates; backward: the chosen
        seconds = fisher_time + timings["inverse"] + timings["score_per_point_step"] * point_steps + timings["update_per_step"] * 3 * k
        wall = time.perf_counter() - t0
        out = {"time_s": round(seconds, 1), "extrapolated": True,
               "cpu_s": round(seconds * (time.process_time() - c0) / wall, 1),
               "measured_s": round(wall, 1),
               "note": f"Fisher timed on {sub_f} points, {sub_steps} forward steps on {sub_n} candidates, scaled to the full case"}
    out["peak_bytes"] = status_bytes("VmHWM:") - before
    out["needs_bytes"] = needs
    print(json.dumps(out))


if __name__ == "__main__":
    main()
