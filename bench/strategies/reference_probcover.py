"""ProbCover as dal-toolbox writes it: the delta graph from torch.cdist in blocks of 500 rows as an
edge list (here with the last partial block included), then greedy max coverage with np.isin and
np.bincount on the edge arrays (ties: np.argmax, the lowest index). The same given delta as
Quarry's side.

exact_graph=true (a check, not the toolkit's code): pairs whose float32 cdist lies within 1e-3
of delta are decided by their float64 distance instead, as Quarry's radius_graph decides them, to
show whether the two sides' picks differ only by the rounding of pairs at delta."""
import numpy as np
import torch

from reference_io import run


def query(inputs, k, params, warm):
    labeled, cand = (inputs.labeled[:100], inputs.features[:500]) if warm else (inputs.labeled, inputs.features)
    return probcover(labeled, cand, k, params["delta"], exact_graph=params.get("exact_graph", False))


def probcover(labeled, cand, k, delta, block=500, exact_graph=False):
    feats = torch.from_numpy(np.concatenate([labeled, cand]))
    nl, total = len(labeled), len(feats)
    xs, ys = [], []
    flips = 0
    for start in range(0, total, block):
        dist = torch.cdist(feats[start:start + block], feats)
        edge = dist < delta
        if exact_graph:
            near = ((dist - delta).abs() < 1e-3 * delta).nonzero().T
            exact = ((feats[start + near[0]].double() - feats[near[1]].double()) ** 2).sum(1) < delta * delta
            flips += int((edge[near[0], near[1]] != exact).sum())
            edge[near[0], near[1]] = exact
        x, y = edge.nonzero().T
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
    greedy = len(picked)
    rest = np.setdiff1d(np.arange(len(cand)), picked)
    picked += list(np.random.default_rng(0).choice(rest, size=k - len(picked), replace=False))
    extra = {"greedy": greedy, "edges": sum(len(x) for x in xs)}
    if exact_graph:
        extra["flipped_pairs"] = flips
    return picked, extra


if __name__ == "__main__":
    run(query)
