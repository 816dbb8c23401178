"""DropQuery as the common toolkits write it: torch dropout on the features and the linear head,
three passes, the majority rule, then scikit-learn's KMeans on the L2-normalised flagged features
and the point nearest each centre."""
import numpy as np
import torch
from sklearn.cluster import KMeans

from reference_io import run


def query(inputs, k, params, warm):
    f = torch.from_numpy(inputs.features[:500] if warm else inputs.features)
    return dropquery(f, torch.from_numpy(inputs.weight), torch.from_numpy(inputs.bias), k)


def diversify(f, flagged, k):
    if len(flagged) <= k:
        rest = np.setdiff1d(np.arange(len(f)), flagged)
        return list(flagged) + list(np.random.default_rng(0).choice(rest, size=k - len(flagged), replace=False))
    z = torch.nn.functional.normalize(f[flagged]).numpy()
    km = KMeans(n_clusters=k, init="k-means++", n_init=1, max_iter=300, tol=1e-4, algorithm="lloyd",
                random_state=0).fit(z)
    d = km.transform(z).min(axis=1)
    return [int(flagged[np.nonzero(km.labels_ == c)[0][d[km.labels_ == c].argmin()]])
            for c in range(k) if (km.labels_ == c).any()]


def dropquery(f, w, b, k, passes=3, p=0.75):
    torch.manual_seed(0)
    y_star = (f @ w.T + b).argmax(1)
    dropout = torch.nn.Dropout(p)
    mismatch = torch.zeros(len(f), dtype=torch.long)
    for _ in range(passes):
        mismatch += ((dropout(f) @ w.T + b).argmax(1) != y_star).long()
    flagged = torch.nonzero(mismatch > passes // 2).flatten().numpy()
    return diversify(f, flagged, k)


if __name__ == "__main__":
    run(query)
