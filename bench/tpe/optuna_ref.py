"""Optuna's TPESampler (default settings) on the same functions as bench_tpe.cpp.

Prints one tab-separated line per (method, function, seed):
    method  function  seed  best_value  mean_ms_per_suggestion
Run with /work/main/.venv/bin/python; bench/tpe/run.sh drives it.
The functions must stay identical to bench_tpe.cpp's.
"""
import argparse
import math
import sys
import time

import optuna


def branin(x1, x2):
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    a = x2 - b * x1 * x1 + c * x1 - 6
    return a * a + 10 * (1 - t) * math.cos(x1) + 10


ALPHA = [1.0, 1.2, 3.0, 3.2]
A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
     [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def hartmann6(x):
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2 for j in range(6))) for i in range(4))


def lr_wd_valley(lr, wd):
    s, t = math.log10(lr) + 2, math.log10(wd) + 3.3
    r = t + 0.8 * s - 0.25 * s * s
    return 0.3 * s * s + 4 * r * r


def mixed(batch, optimizer, y):
    offset = {"a": 0.6, "b": 0.0, "c": 0.3, "d": 0.9}[optimizer]
    l = math.log2(batch) - 4
    return offset + 0.1 * l * l + (y - 0.3) ** 2


def ask(name, trial):
    """Suggest the parameters of `name`; returns the objective's arguments."""
    if name == "branin":
        return (trial.suggest_float("x1", -5, 10), trial.suggest_float("x2", 0, 15))
    if name == "hartmann6":
        return ([trial.suggest_float(f"x{i}", 0, 1) for i in range(6)],)
    if name == "lr_wd_valley":
        return (trial.suggest_float("lr", 1e-5, 1e-1, log=True), trial.suggest_float("weight_decay", 1e-5, 1e-1, log=True))
    if name == "mixed":
        return (trial.suggest_int("batch", 1, 64, log=True), trial.suggest_categorical("optimizer", ["a", "b", "c", "d"]),
                trial.suggest_float("y", 0, 1))
    raise ValueError(name)


FUNCTIONS = {"branin": branin, "hartmann6": hartmann6, "lr_wd_valley": lr_wd_valley, "mixed": mixed}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--univariate", action="store_true", help="also run TPESampler(multivariate=False)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    methods = [("optuna-tpe", {})]
    if args.univariate:
        methods.append(("optuna-tpe-univariate", {"multivariate": False}))
    for name, f in FUNCTIONS.items():
        for method, kwargs in methods:
            for seed in range(args.seeds):
                study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed, **kwargs))
                seconds = 0.0
                for _ in range(args.trials):
                    # Sampling happens in ask() (relative, multivariate) and in the suggest calls.
                    t0 = time.perf_counter()
                    trial = study.ask()
                    params = ask(name, trial)
                    seconds += time.perf_counter() - t0
                    study.tell(trial, f(*params))
                print(f"{method}\t{name}\t{seed}\t{study.best_value:.10g}\t{1000 * seconds / args.trials:.6f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
