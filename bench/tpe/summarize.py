"""Reads bench_tpe / optuna_ref.py lines from stdin, prints a markdown table."""
import math
import statistics
import sys
from collections import defaultdict

rows = defaultdict(list)
for line in sys.stdin:
    parts = line.split("\t")
    if len(parts) != 5:
        continue
    method, function, _seed, best, ms = parts
    rows[(function, method)].append((float(best), float(ms)))

print("| function | method | seeds | mean best | +- s.e.m. | median best | ms / suggestion |")
print("|---|---|---|---|---|---|---|")
for (function, method), values in sorted(rows.items()):
    best = [b for b, _ in values]
    ms = [m for _, m in values]
    sem = statistics.stdev(best) / math.sqrt(len(best)) if len(best) > 1 else float("nan")
    print(f"| {function} | {method} | {len(best)} | {statistics.mean(best):.4f} | {sem:.4f} | "
          f"{statistics.median(best):.4f} | {statistics.mean(ms):.3f} |")
