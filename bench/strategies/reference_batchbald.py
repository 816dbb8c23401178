"""BatchBALD as dal-toolbox's BatchBALDSampling (after batchbald_redux) writes it: exact joint
entropy while C^|B| <= M, then M sampled configurations drawn afresh after every pick; per step a
Python loop over the candidates (one (M x S) @ (S x C) product each) into a materialised
N x M x C tensor. M = joint_samples, as Quarry's (the toolbox passes M = S)."""
import numpy as np
import torch

from reference_io import run


def query(inputs, k, params, warm):
    probs = torch.from_numpy(inputs.mc())
    if warm:
        probs = probs[:200]
    return batchbald(probs, k, params.get("joint_samples", 1000), np.random.default_rng(0))


def batchbald(probs, k, m, rng):
    n, s, c = probs.shape
    log_probs = probs.clamp_min(1e-30).log()
    conditional = -(probs * log_probs).sum(dim=(1, 2)) / s
    joint = torch.ones((1, s))  # M x S: prod over the batch of p_s(y_i)
    exact = True
    picked = []
    for step in range(k):
        if step > 0:
            last = picked[-1]
            if exact and joint.shape[0] * c <= m:
                joint = (joint.T[:, :, None] * probs[last][:, None, :]).reshape(s, -1).T
            else:
                exact = False
                batch = probs[picked]  # b x S x C
                per_sample = m // s
                choices = np.stack([[rng.choice(c, size=per_sample, p=(p / p.sum()).numpy()) for p in b] for b in batch.double()])
                gathered = torch.gather(batch[:, :, None, :].expand(-1, -1, s, -1), 3,
                                        torch.from_numpy(choices)[:, None, :, :].expand(-1, s, -1, -1).long())
                joint = torch.exp(torch.log(gathered + 1e-9).sum(0)).reshape(s, -1).T  # (S' configs per sample)
        mc = joint.shape[0]
        probs_n_m_c = torch.empty((n, mc, c))
        for i in range(n):
            probs_n_m_c[i] = joint @ probs[i]
        probs_n_m_c /= s
        if exact:
            scores = -(probs_n_m_c * torch.log(probs_n_m_c + 1e-9)).sum(dim=(1, 2))
        else:
            p_m = joint.mean(dim=1)[None, :, None]
            scores = -(torch.log(probs_n_m_c + 1e-9) * probs_n_m_c / p_m).sum(dim=(1, 2)) / mc
        scores -= conditional
        scores[picked] = -float("inf")
        picked.append(int(torch.argmax(scores)))
    return picked


if __name__ == "__main__":
    run(query)
