"""TypiClust as the common toolkits write it: scikit-learn's KMeans (k-means++, one init, Lloyd)
into |L| + k clusters on the labeled and candidate features, NearestNeighbors for the typicality
inside each cluster, the paper's selection order (fewest labels, then largest)."""
import numpy as np
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from reference_io import run


def query(inputs, k, params, warm):
    labeled, cand = (inputs.labeled[:100], inputs.features[:500]) if warm else (inputs.labeled, inputs.features)
    return typiclust(labeled, cand, k, params.get("kmeans_iterations", 300))


def typiclust(labeled, cand, k, max_iter, knn=20, min_size=5):
    x = np.concatenate([labeled, cand])
    nl = len(labeled)
    clusters = min(len(x), nl + k)
    km = KMeans(n_clusters=clusters, init="k-means++", n_init=1, max_iter=max_iter, tol=1e-4,
                algorithm="lloyd", random_state=0).fit(x)
    labels = km.labels_
    sizes = np.bincount(labels, minlength=clusters)
    labeled_in = np.bincount(labels[:nl], minlength=clusters)
    order = [c for c in np.lexsort((np.arange(clusters), -sizes, labeled_in)) if sizes[c] > min_size]
    free = labels.copy()
    free[:nl] = -1
    picked = []
    for step in range(k):
        if not order:
            break
        c = order[step % len(order)]
        idx = np.nonzero(free == c)[0]
        if len(idx) == 0:
            continue
        kn = min(knn, len(idx) // 2)
        if kn == 0:
            best = idx[0]
        else:
            d, _ = NearestNeighbors(n_neighbors=kn + 1).fit(x[idx]).kneighbors(x[idx])
            best = idx[np.argmax(1 / (d[:, 1:].mean(axis=1) + 1e-5))]
        picked.append(best - nl)
        free[best] = -1
    rest = np.setdiff1d(np.arange(len(cand)), picked)
    picked += list(np.random.default_rng(0).choice(rest, size=k - len(picked), replace=False))
    return picked


if __name__ == "__main__":
    run(query)
