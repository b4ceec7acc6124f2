"""How CorrNet's defaults were chosen: a sweep on held-out digits halves.

Protocol: scikit-learn's digits, left half (32 pixels) vs right half, a
stratified 70/30 split per seed, ``n_components=10``. Figure: held-out total
canonical correlation (a linear CCA fitted on the training representations,
its 10 held-out correlations summed). Baseline: closed-form ridge CCA on the
raw halves with the ridge picked *on the test set* from a grid, an upper bound
for any linear CCA. Each CorrNet variant changes one setting of the defaults.

Run: python benchmarks/defaults.py [--quick] [--seeds N]
Writes benchmarks/results/defaults.{json,md}.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.model_selection import train_test_split

from _common import RIDGES, digits_tasks, machine, save
from skcorrnet import CorrNet
from skcorrnet.metrics import total_correlation

K = 10
PAPER = {
    "hidden_layer_sizes": (),
    "latent_activation": "logistic",
    "init": "random",
    "correlation": "per_unit",
    "solver": "rmsprop",
    "alpha": 0.0,
    "early_stopping": False,
}
VARIANTS = {
    "defaults": {},
    "the paper's model": PAPER,
    "init=random": {"init": "random"},
    "correlation=per_unit (paper)": {"correlation": "per_unit"},
    "latent_activation=relu": {"latent_activation": "relu"},
    "early_stopping=False": {"early_stopping": False},
    "no hidden layer (linear paths only)": {"hidden_layer_sizes": ()},
    "tanh": {"activation": "tanh"},
    "hidden (128,)": {"hidden_layer_sizes": (128,)},
    "hidden (256, 256)": {"hidden_layer_sizes": (256, 256)},
    "alpha=0": {"alpha": 0.0},
    "alpha=1e-2": {"alpha": 1e-2},
    "correlation_weight=0 (plain autoencoder)": {"correlation_weight": 0.0},
    "correlation_weight=8": {"correlation_weight": 8.0},
    "batch_size=256": {"batch_size": 256},
    "learning_rate_init=1e-3": {"learning_rate_init": 1e-3},
    "solver=rmsprop": {"solver": "rmsprop"},
}
QUICK = ["defaults", "the paper's model", "init=random"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 variants, 1 seed")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    seeds = range(1 if args.quick else args.seeds)
    variants = {name: VARIANTS[name] for name in QUICK} if args.quick else VARIANTS

    left, right, digit = digits_tasks()["halves"]
    splits = [
        train_test_split(left, right, test_size=0.3, random_state=s, stratify=digit)
        for s in seeds
    ]

    linear = [
        max(total_correlation(a, b, at, bt, n_components=K, reg=r) for r in RIDGES)
        for a, at, b, bt in splits
    ]
    results = [{"model": "ridge CCA, best ridge on test", "total_corr": linear, "fit_s": None}]
    print(f"{results[0]['model']}: {np.mean(linear):.3f}")
    for name, params in variants.items():
        scores, times = [], []
        for seed, (a, at, b, bt) in zip(seeds, splits):
            model = CorrNet(n_components=K, random_state=seed, device="cpu", **params)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(a, b)
            times.append(time.perf_counter() - start)
            scores.append(total_correlation(*model.transform(a, b), *model.transform(at, bt)))
        results.append({"model": f"CorrNet {name}", "params": params, "total_corr": scores, "fit_s": times})
        print(f"CorrNet {name}: {np.mean(scores):.3f} ({np.mean(times):.1f} s)", flush=True)

    base = np.mean(linear)
    lines = [
        f"Held-out total correlation, digits halves, k={K}, {len(seeds)} seed(s); "
        f"machine: {machine()}",
        "",
        "| model | total corr (mean ± sd) | vs linear | fit s |",
        "|---|---|---|---|",
    ]
    for row in results:
        mean, sd = np.mean(row["total_corr"]), np.std(row["total_corr"])
        fit = "" if row["fit_s"] is None else f"{np.mean(row['fit_s']):.1f}"
        lines.append(f"| {row['model']} | {mean:.3f} ± {sd:.3f} | {mean / base - 1:+.1%} | {fit} |")
    save(
        "defaults",
        {"machine": machine(), "k": K, "seeds": list(seeds), "results": results},
        lines,
        quick=args.quick,
    )


if __name__ == "__main__":
    main()
