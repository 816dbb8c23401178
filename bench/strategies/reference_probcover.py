"""ProbCover as dal-toolbox writes it: the delta graph from torch.cdist in blocks of 500 rows as an
edge list (here with the last partial block included), then greedy max coverage with np.isin and
np.bincount on the edge arrays. The same given delta as Quarry's side."""
import numpy as np
import torch

from reference_io import run


def query(inputs, k, params, warm):
    labeled, cand = (inputs.labeled[:100], inputs.features[:500]) if warm else (inputs.labeled, inputs.features)
    return probcover(labeled, cand, k, params["delta"])


def probcover(labeled, cand, k, delta, block=500):
    feats = torch.from_numpy(np.concatenate([labeled, cand]))
    nl, total = len(labeled), len(feats)
    xs, ys = [], []
    for start in range(0, total, block):
        dist = torch.cdist(feats[start:start + block], feats)
        x, y = (dist < delta).nonzero().T
        xs.append(x + start)
        ys.append(y)
    gx, gy = torch.cat(xs).numpy(), torch.cat(ys).numpy()
    covered = np.unique(gy[np.isin(gx, np.arange(nl))])
    keep = ~np.isin(gy, covered)
    gx, gy = gx[keep], gy[keep]
    picked = []
    for _ in range(k):
        degrees = np.bincount(gx, minlength=total)
        degrees[:nl] = 0
        if picked:
            degrees[np.array(picked) + nl] = 0
        cur = int(degrees.argmax())
        if degrees[cur] == 0:
            break
        new = gy[gx == cur]
        keep = ~np.isin(gy, new)
        gx, gy = gx[keep], gy[keep]
        picked.append(cur - nl)
    rest = np.setdiff1d(np.arange(len(cand)), picked)
    picked += list(np.random.default_rng(0).choice(rest, size=k - len(picked), replace=False))
    return picked


if __name__ == "__main__":
    run(query)
