"""AlfaMix as dal-toolbox writes it (closed-form alpha, eps = 0.2 / sqrt(D)): anchors per seen
class, the loss gradient through the linear head by autograd, one mix per anchor, then
scikit-learn's KMeans on the L2-normalised flagged features and the point nearest each centre."""
import numpy as np
import torch

from reference_dropquery import diversify
from reference_io import run


def query(inputs, k, params, warm):
    f = torch.from_numpy(inputs.features[:500] if warm else inputs.features)
    zl = torch.from_numpy(inputs.labeled[:100] if warm else inputs.labeled)
    yl = torch.from_numpy(inputs.labeled_labels[:len(zl)])
    return alfamix(f, zl, yl, torch.from_numpy(inputs.weight), torch.from_numpy(inputs.bias), k)


def alfamix(z_u, z_l, y_l, w, b, k, eps_scale=0.2):
    eps = eps_scale / np.sqrt(z_u.shape[1])
    z = z_u.clone().requires_grad_(True)
    logits = z @ w.T + b
    y_star = logits.argmax(1)
    grad = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y_star, reduction="sum"), z)[0]
    grad_norm = grad.norm(dim=1, keepdim=True)
    flagged = torch.zeros(len(z_u), dtype=torch.bool)
    with torch.no_grad():
        for c in torch.unique(y_l):
            z_s = z_l[y_l == c].mean(0)
            diff = z_s - z_u
            alpha = eps * diff.norm(dim=1, keepdim=True) * grad / (grad_norm * diff + 1e-8)
            mix = alpha * z_s + (1 - alpha) * z_u
            flagged |= (mix @ w.T + b).argmax(1) != y_star
    return diversify(z_u, torch.nonzero(flagged).flatten().numpy(), k)


if __name__ == "__main__":
    run(query)
