#!/usr/bin/env python3
"""Tables for bench/hpo/run.sh: rung evidence (rungs.jsonl) and the searches (search.jsonl)."""
import json
import math
import os
import sys

import numpy as np
from scipy.stats import spearmanr


def lines(path):
    if not os.path.exists(path):
        return []
    return [json.loads(l.replace("nan", "NaN")) for l in open(path) if l.strip()]


def rung_table(rows):
    if not rows:
        return
    rungs = rows[0]["rungs"]
    seeds = sorted({r["seed"] for r in rows})
    print(f"Rung values against the full training's mean validation accuracy: Spearman rank correlation "
          f"over {len(rows) // len(seeds)} random settings x {len(seeds)} seeds (mean over seeds; "
          "diverged settings rank last)")
    print()
    print("| rung (epochs) | prefix of the full schedule | short full schedule |")
    print("|---|---|---|")
    for k, epochs in enumerate(rungs):
        cols = []
        for key in ("prefix", "schedule"):
            rhos = []
            for s in seeds:
                rs = [r for r in rows if r["seed"] == s]
                fin = np.nan_to_num(np.array([r["final"] for r in rs], float), nan=-1.0)
                val = np.nan_to_num(np.array([r[key][k] for r in rs], float), nan=-1.0)
                rhos.append(spearmanr(val, fin).correlation)
            cols.append(f"{np.mean(rhos):.3f}")
        print(f"| {epochs} | {cols[0]} | {cols[1]} |")
    # How often the final top-5 setting survives a 1/3 cut at the first rung.
    print()
    for key in ("prefix", "schedule"):
        kept = []
        for s in seeds:
            rs = [r for r in rows if r["seed"] == s]
            fin = np.nan_to_num(np.array([r["final"] for r in rs], float), nan=-1.0)
            val = np.nan_to_num(np.array([r[key][0] for r in rs], float), nan=-1.0)
            best = int(np.argmax(fin))
            kept.append(float(val[best] >= np.sort(val)[::-1][max(1, len(val) // 3) - 1]))
        print(f"{key}: the best setting is in the first rung's top third in {100 * np.mean(kept):.0f}% of seeds")
    print()


def search_table(rows, pool):
    if not rows:
        return
    seeds = sorted({r["seed"] for r in rows})
    labels = []
    for r in rows:  # "asha", "hyperband", or a label with the settings, e.g. "asha eta=4"
        r["label"] = r["pruner"] + (f" eta={r['eta']}" if r.get("eta", 3) != 3 else "")
        if r["label"] not in labels:
            labels.append(r["label"])
    by = {p: [r for r in rows if r["label"] == p] for p in labels}
    base = {r["seed"]: r for r in by.get("none", [])}
    print(f"{len(seeds)} seeds, {pool} labels, {rows[0]['trials']} trials per search; "
          "means over the seeds")
    print()
    print("| search | best val acc | test acc (tuned) | test acc - plain TPE | training epochs | epochs / plain TPE | pruned trials | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for p, rs in by.items():
        if not rs:
            continue
        kind, _, extra = p.partition(" ")
        name = "plain TPE" if kind == "none" else f"TPE + {'ASHA' if kind == 'asha' else 'Hyperband'}"
        name += f" ({extra.replace('eta=', 'reduction factor ')})" if extra else ""
        d = [100 * (r["test_accuracy"] - base[r["seed"]]["test_accuracy"]) for r in rs if r["seed"] in base]
        ratio = [r["epochs"] / base[r["seed"]]["epochs"] for r in rs if r["seed"] in base]
        print(f"| {name} | {100 * np.mean([r['best_val'] for r in rs]):.2f}% | "
              f"{100 * np.mean([r['test_accuracy'] for r in rs]):.2f}% | {np.mean(d):+.2f} pp | "
              f"{np.mean([r['epochs'] for r in rs]):,.0f} | {100 * np.mean(ratio):.1f}% | "
              f"{np.mean([r['pruned'] for r in rs]):.1f} | {np.mean([r['seconds'] for r in rs]):.0f} |")
    print()
    print("per seed (test acc %, epochs):")
    for s in seeds:
        cells = []
        for p, rs in by.items():
            for r in rs:
                if r["seed"] == s:
                    cells.append(f"{p} {100 * r['test_accuracy']:.2f} {r['epochs']}")
        print(f"  seed {s}: " + " | ".join(cells))


def main():
    out, pool = sys.argv[1], sys.argv[2]
    rung_table(lines(os.path.join(out, "rungs.jsonl")))
    search_table(lines(os.path.join(out, "search.jsonl")), pool)


if __name__ == "__main__":
    main()
