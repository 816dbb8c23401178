"""The training loop a typical Python deep-active-learning toolkit runs, for bench_training.

    python reference.py DIR BATCH STEPS WARMUP per_image|batched [THREADS]  -> one JSON line

ResNet-18 (CIFAR variant, width 64) in torch.nn; SGD momentum 0.9, weight decay 5e-4, lr 0.01;
cross-entropy. Data: images.npy / labels.npy that `bench_training gen` wrote.
  per_image: a Dataset whose __getitem__ does torchvision-style RandomCrop(32, padding=4) +
             RandomHorizontalFlip + ToTensor + Normalize on one image (written out in torch, so
             torchvision is not needed), batched by a DataLoader(shuffle=True, num_workers=0).
  batched:   the same draws made for a whole batch at once with tensor indexing (the fair
             comparison with Quarry, which augments batched).
WARMUP untimed steps, then STEPS timed ones. Peak memory: this process's VmHWM.
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(3, 1, 1)
STD = torch.tensor([0.247, 0.243, 0.262]).view(3, 1, 1)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, classes=10, w=64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        chans, strides, layers, cin = [w, 2 * w, 4 * w, 8 * w], [1, 2, 2, 2], [], w
        for c, s in zip(chans, strides):
            layers.append(nn.Sequential(BasicBlock(cin, c, s), BasicBlock(c, c, 1)))
            cin = c
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(8 * w, classes)

    def forward(self, x):
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class AugmentedImages(torch.utils.data.Dataset):
    """One image at a time, as a torchvision transform pipeline would treat it."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        img = F.pad(self.images[i], (4, 4, 4, 4))  # RandomCrop(32, padding=4): zero fill
        top, left = torch.randint(0, 9, (2,)).tolist()
        img = img[:, top:top + 32, left:left + 32]
        if torch.rand(1).item() < 0.5:  # RandomHorizontalFlip
            img = img.flip(-1)
        img = img.float().div(255)  # ToTensor
        return (img - MEAN) / STD, self.labels[i]  # Normalize


def batched_augment(x):
    b = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4))
    top, left = torch.randint(0, 9, (b,)), torch.randint(0, 9, (b,))
    ar = torch.arange(32)
    rows = (top[:, None] + ar)[:, :, None]
    cols = left[:, None] + ar
    cols = torch.where(torch.rand(b)[:, None] < 0.5, cols.flip(1), cols)[:, None, :]
    out = padded.permute(0, 2, 3, 1)[torch.arange(b)[:, None, None], rows, cols]  # B x 32 x 32 x C
    return (out.permute(0, 3, 1, 2).float().div(255) - MEAN) / STD


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return -1


def main():
    data, batch, steps, warmup, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    images = torch.from_numpy(np.load(f"{data}/images.npy"))
    labels = torch.from_numpy(np.load(f"{data}/labels.npy"))
    model = ResNet18()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    total = warmup + steps

    def batches():
        if mode == "per_image":
            ds = AugmentedImages(images, labels)
            while True:
                yield from torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=0, drop_last=True)
        while True:
            perm = torch.randperm(len(labels))
            for s in range(0, len(perm) - batch + 1, batch):
                idx = perm[s:s + batch]
                yield batched_augment(images[idx]), labels[idx]

    it = batches()
    loss_sum = torch.zeros(())
    for step in range(total):
        if step == warmup:
            t0, c0 = time.perf_counter(), time.process_time()
        x, y = next(it)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss_sum += loss.detach()
    final_loss = loss_sum.item() / total  # one sync at the end, as Quarry does per epoch
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"side": "python-" + mode, "batch": batch, "steps": steps, "seconds": round(seconds, 4),
                      "images_per_s": round(steps * batch / seconds, 3), "cpu_seconds": round(cpu, 4),
                      "peak_rss_mb": round(status_kb("VmHWM") / 1024, 1),
                      "final_loss": round(final_loss, 4), "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
