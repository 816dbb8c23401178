"""What every strategy reference shares: the inputs bench_strategy_plugins wrote, warm-up, timing
and peak memory (the RSS high-water mark, reset through /proc/self/clear_refs, above the RSS just
before the query, as the C++ side measures it). One JSON line: time_s, peak_bytes, picks."""
import json
import sys
import time

import numpy as np
import torch

LABELED = 4000


def status_bytes(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    return -1


class Inputs:
    def __init__(self, folder, n, c):
        self.folder, self.n, self.c = folder, n, c
        self.labeled = np.load(f"{folder}/labeled.npy")
        self.features = np.load(f"{folder}/features_{n}.npy")
        self.labeled_labels = np.load(f"{folder}/labeled_labels_{c}.npy").astype(np.int64)
        head = np.load(f"{folder}/head_{c}.npy")
        self.weight, self.bias = head[:, :-1].copy(), head[:, -1].copy()

    def mc(self):
        # The toolkits hold MC outputs as N x S x C. Loaded once, on the warm-up call: the timed
        # query starts from the model's outputs, as Quarry's predict_samples serves them.
        if not hasattr(self, "_mc"):
            self._mc = np.ascontiguousarray(np.load(f"{self.folder}/mc_{self.n}_{self.c}.npy").transpose(1, 0, 2))
        return self._mc


def params():
    out = {}
    for kv in sys.argv[5:]:
        k, v = kv.split("=", 1)
        out[k] = v == "true" if v in ("true", "false") else float(v) if "." in v else int(v)
    return out


def run(query):
    """query(inputs, k, params, warm) -> picks (candidate positions), or (picks, extra fields)."""
    torch.set_num_threads(2)
    folder, n, c, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    inputs = Inputs(folder, n, c)
    p = params()
    query(inputs, 5, p, warm=True)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_bytes("VmRSS:")
    t0, c0 = time.perf_counter(), time.process_time()
    picks = query(inputs, k, p, warm=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = status_bytes("VmHWM:") - before
    extra = {}
    if isinstance(picks, tuple):  # (picks, {more fields for the report})
        picks, extra = picks
    print(json.dumps({"time_s": seconds, "cpu_s": cpu, "peak_bytes": peak, "picks": [int(i) for i in picks], **extra}))
