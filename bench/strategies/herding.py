"""Reference MaxHerding and Uncertainty Herding, written the way common deep active learning
toolkits write them (NumPy, float32, the N x N kernel materialised).

    python herding.py DIR N C K max|uncertainty full|extrapolate  -> one JSON line

Features are L2-normalised; the RBF kernel is computed as sklearn's pairwise_kernels does
(||x||^2 + ||y||^2 - 2 x.y, clamped, exp(-gamma d^2)); K = k(candidates, candidates) and the
coverage m = max over the labeled columns. Each step takes
argmax_c u_c * mean_x max(K[x, c] - m_x, 0) (the papers' gain: each pool point against its own
coverage), lowest position first, then m = max(m, K[:, c]). max: gamma = 1, u = 1. uncertainty:
u = 1 - (p1 - p2) (margin), gamma = 1 / the smallest squared distance between two labeled points.

full: runs it (N = 10,000: K is 400 MB, and every step makes two more N x N temporaries).
extrapolate (N = 45,000: K alone is 8.1 GB, 24 GB with the step temporaries, more than this
machine has): runs the full algorithm on the first 10,000 candidates and scales the kernel and
the steps by (N / 10,000)^2, reported as an estimate, with the memory the full case needs.
"""
import json
import sys
import time

import numpy as np


def status_bytes(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return -1


def normalize(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def rbf(x, y, gamma):
    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
    np.maximum(d, 0, out=d)
    return np.exp(-gamma * d)


def min_distance_gamma(lab):
    d = (lab * lab).sum(1)[:, None] + (lab * lab).sum(1)[None, :] - 2 * lab @ lab.T
    np.fill_diagonal(d, np.inf)
    best = float(np.maximum(d, 0).min())
    return 1.0 / best if best > 0 else 1.0


def herding(u_feats, l_feats, weights, gamma, k):
    u = normalize(u_feats)
    lab = normalize(l_feats)
    max_kernels = rbf(u, lab, gamma).max(axis=1) if len(lab) else np.zeros(len(u), dtype=u.dtype)
    K = rbf(u, u, gamma)
    selected = []
    for _ in range(k):
        gain = weights * np.mean(np.maximum(K - max_kernels[:, None], 0), axis=0)
        gain[selected] = -np.inf
        idx = int(np.argmax(gain))
        max_kernels = np.maximum(max_kernels, K[:, idx])
        selected.append(idx)
    return selected


def main():
    folder, n, c, k, which, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
    feats = np.load(f"{folder}/features_{n}.npy")
    probs = np.load(f"{folder}/probs_{n}_{c}.npy")
    lfeats = np.load(f"{folder}/labeled_features.npy")

    def run(f, p, lf, kk):
        if which == "max":
            return herding(f, lf, np.ones(len(f), dtype=np.float32), 1.0, kk)
        top2 = -np.sort(-p, axis=1)[:, :2]
        return herding(f, lf, 1 - (top2[:, 0] - top2[:, 1]), min_distance_gamma(normalize(lf)), kk)

    run(feats[:1000], probs[:1000], lfeats[:200], 10)  # warm-up, as bench_herding
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_bytes("VmRSS:")
    sub = n if mode == "full" else 10000
    t0 = time.perf_counter()
    c0 = time.process_time()
    picked = run(feats[:sub], probs[:sub], lfeats, k)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    out = {"peak_bytes": status_bytes("VmHWM:") - before, "needs_bytes": 3 * 4 * n * n}
    if mode == "full":
        out.update({"time_s": round(seconds, 3), "cpu_s": round(cpu, 3), "picks": picked})
    else:
        out.update({"time_s": round(seconds * (n / sub) ** 2, 1), "cpu_s": round(cpu * (n / sub) ** 2, 1), "extrapolated": True, "measured_s": round(seconds, 1),
                    "note": f"ran on the first {sub} candidates, scaled by (N/{sub})^2"})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
