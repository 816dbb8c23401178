"""BALD with Monte-Carlo dropout as the common toolkits run it (dal-toolbox's MC-dropout models,
baal, the BatchBALD reference without its deterministic split): the model in eval mode with its
dropout modules switched to train, the whole model run S times per batch, the N x S x C
probabilities materialised, entropy of the mean minus the mean entropy, torch.topk.

    reference.py MODEL N S K THREADS     (MODEL: small_cnn or resnet18, as Quarry's plugins)

Prints one JSON line like bench_mc_dropout. Same architecture and input shape as Quarry's;
untrained weights and random images (the cost does not depend on them)."""
import importlib.util
import json
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# bench/training's ResNet-18 (Quarry's CIFAR variant) and the CIFAR normalisation.
_spec = importlib.util.spec_from_file_location(
    "training_reference", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "training", "reference.py"))
_training = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_training)
MEAN, STD, ResNet18 = _training.MEAN, _training.STD, _training.ResNet18


class SmallCnn(nn.Module):
    """Quarry's small_cnn (width 32, feature_dim 128) with dropout before the classifier."""

    def __init__(self, classes=10, w=32, feature_dim=128, p=0.3):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, w, 3, padding=1, bias=False), nn.BatchNorm2d(w)
        self.conv2, self.bn2 = nn.Conv2d(w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w)
        self.embed, self.dropout, self.classifier = nn.Linear(2 * w, feature_dim), nn.Dropout(p), nn.Linear(feature_dim, classes)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        h = F.max_pool2d(F.relu(self.bn2(self.conv2(h))), 2)
        f = F.relu(self.embed(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)))
        return self.classifier(self.dropout(f))


class McResNet18(ResNet18):
    """The ResNet-18 with dropout on the pooled feature, as Quarry's resnet18 dropout = 0.3."""

    def __init__(self, classes=10, p=0.3):
        super().__init__(classes)
        self.dropout = nn.Dropout(p)

    def forward(self, x):
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(self.dropout(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)))


@torch.no_grad()
def mc_probabilities(model, images, samples, batch=128):
    model.eval()
    for m in model.modules():  # MC dropout: dropout on, batch norm in eval mode
        if isinstance(m, nn.Dropout):
            m.train()
    out = []
    for a in range(0, images.shape[0], batch):
        x = (images[a:a + batch].float() / 255 - MEAN) / STD
        out.append(torch.stack([F.softmax(model(x), dim=1) for _ in range(samples)], dim=1))
    return torch.cat(out)  # N x S x C


def bald(probs, k):
    mean = probs.mean(dim=1)
    ensemble_entropy = -(mean * mean.clamp_min(1e-30).log()).sum(-1)
    mean_entropy = -(probs * probs.clamp_min(1e-30).log()).sum(-1).mean(dim=1)
    return torch.topk(ensemble_entropy - mean_entropy, k).indices.tolist()


def main():
    name, n, samples, k, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(7)
    model = {"small_cnn": SmallCnn, "resnet18": McResNet18}[name]()
    images = torch.randint(256, (n, 3, 32, 32), dtype=torch.uint8)
    bald(mc_probabilities(model, images[:256], samples), 5)  # warm-up, as Quarry's side
    c0, t0 = time.process_time(), time.perf_counter()
    picks = bald(mc_probabilities(model, images, samples), k)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"side": "reference", "model": name, "n": n, "samples": samples, "seconds": round(seconds, 4),
                      "cpu_seconds": round(cpu, 4), "peak_rss_mb": round(peak, 1), "threads": torch.get_num_threads(),
                      "picks": picks}))


if __name__ == "__main__":
    main()
