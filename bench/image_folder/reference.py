"""The reference: what a torchvision user's ImageFolder + DataLoader does per image (PIL open,
convert, resize with BILINEAR, to a uint8 CHW tensor), single-process (num_workers=0) and with a
multiprocessing pool of THREADS workers (num_workers=THREADS), collated into one tensor.
    reference.py DATA_DIR IMAGE_SIZE THREADS
"""
import json, os, sys, time
from multiprocessing import Pool

import numpy as np
from PIL import Image


def files_of(root):
    out = []
    for split in ("train", "test"):
        classes = sorted(d for d in os.listdir(os.path.join(root, split)) if not d.startswith("."))
        for label, c in enumerate(classes):
            d = os.path.join(root, split, c)
            out += [(os.path.join(d, f), label) for f in sorted(os.listdir(d))]
    return out


def load(item):
    path, label = item
    with Image.open(path) as img:
        x = np.asarray(img.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR))
    return x.transpose(2, 0, 1).copy(), label


def main():
    global SIZE
    root, SIZE, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    files = files_of(root)
    for name, workers in (("python PIL, 1 process", 0), (f"python PIL, {threads} processes", threads)):
        start = time.perf_counter()
        if workers == 0:
            items = [load(f) for f in files]
        else:
            with Pool(workers, initializer=_init, initargs=(SIZE,)) as pool:
                items = pool.map(load, files, chunksize=64)
        images = np.stack([x for x, _ in items])
        seconds = time.perf_counter() - start
        assert images.shape == (len(files), 3, SIZE, SIZE)
        print(json.dumps({"side": name, "images": len(files), "seconds": round(seconds, 4)}))


def _init(size):
    global SIZE
    SIZE = size


if __name__ == "__main__":
    main()
