"""How CorrNet's defaults are chosen: one setting changed at a time, on the
digits tasks where they are closest to (or behind) the best peer.

Protocol: ``benchmarks/quality.py``'s, on its digits tasks (a stratified
70/30 split per seed): halves at k = 10 and 20, image vs label at k = 9, and
pixels vs a nonlinear descriptor at k = 10. Figure: held-out total canonical
correlation (a linear CCA fitted on the training representations, its held-out
correlations summed), mean over the seeds. Reference rows: the CV-ridge CCA,
and, from quality.py's committed results, the best peer on each task. Each
CorrNet variant changes one setting of the defaults; ``vs defaults`` is its
mean ratio to the defaults over the tasks. ``predict R²``: the held-out R² of
``predict(X)`` against y (scikit-learn's ``r2_score``, averaged over y's
columns), mean over the tasks and seeds: what the decoders are for.

Run: python benchmarks/defaults.py [--quick] [--seeds N]
Writes benchmarks/results/defaults.{json,md}.
"""

import argparse
import functools
import json
import time
import warnings

import numpy as np
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from _common import RESULTS, RidgeCCA, digits_tasks, machine, markdown_table, save
from skcorrnet import CorrNet
from skcorrnet.metrics import total_correlation

PAPER = {
    "hidden_layer_sizes": (),
    "latent_activation": "logistic",
    "init": "random",
    "correlation": "per_unit",
    "correlation_weight": 2.0,
    "solver": "rmsprop",
    "alpha": 0.0,
    "input_clip": None,
    "early_stopping": False,
}
VARIANTS = {
    "defaults": {},
    "the paper's model": PAPER,
    "init=random": {"init": "random"},
    "correlation=total (Deep CCA's trace norm)": {"correlation": "total"},
    "correlation=per_unit (paper)": {"correlation": "per_unit"},
    "correlation_weight=2 (paper)": {"correlation_weight": 2.0},
    "correlation_weight=0 (plain autoencoder)": {"correlation_weight": 0.0},
    "learning_rate_init=5e-3": {"learning_rate_init": 5e-3},
    "learning_rate_init=2e-2": {"learning_rate_init": 2e-2},
    "early_stopping=False": {"early_stopping": False},
    "tol=1e-4 (fixed; former default)": {"tol": 1e-4},
    "decoder_layer_sizes='mirror' (former default)": {"decoder_layer_sizes": "mirror"},
    "hidden (256,)": {"hidden_layer_sizes": (256,)},
    "no hidden layer (linear paths only)": {"hidden_layer_sizes": ()},
    "latent_activation=relu": {"latent_activation": "relu"},
    "alpha=0": {"alpha": 0.0},
    "batch_size=256": {"batch_size": 256},
    "input_clip=None (no clipping)": {"input_clip": None},
    "input_clip=3": {"input_clip": 3.0},
    "input_clip=8": {"input_clip": 8.0},
}
# (task, k) pairs, as in quality.py: where a second layer let DCCA pull ahead.
TASKS = [("halves", 10), ("halves", 20), ("label", 9), ("nonlinear", 10)]
QUICK = ["defaults", "the paper's model", "init=random"]


def splits(seeds):
    """(task, k) -> list of (seed, X, Xt, Y, Yt)."""
    digits = digits_tasks()
    out = {}
    for task, k in TASKS:
        X_all, Y_all, strata = digits[task]
        out[task, k] = [
            (seed, *train_test_split(X_all, Y_all, test_size=0.3, random_state=seed,
                                     stratify=strata))
            for seed in seeds
        ]  # fmt: skip
    return out


def held_out(model, X, Xt, Y, Yt):
    """(held-out total correlation, fit seconds, held-out R² of predict) of
    ``model``."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y)
    seconds = time.perf_counter() - start
    corr = total_correlation(*model.transform(X, Y), *model.transform(Xt, Yt))
    return corr, seconds, r2_score(Yt, model.predict(Xt))


def sweep(variants, data):
    """One result row per model: its mean held-out figure per task, and seconds."""
    rows = []
    models = {"ridge CCA (CV)": lambda k, seed: RidgeCCA(k, random_state=seed)}
    for name, params in variants.items():
        models[f"CorrNet {name}"] = functools.partial(_corrnet, params)
    for name, make in models.items():
        row = {"model": name, "fit_s": [], "predict R²": []}
        for (task, k), runs in data.items():
            scores = []
            for seed, X, Xt, Y, Yt in runs:
                score, seconds, r2 = held_out(make(k, seed), X, Xt, Y, Yt)
                scores.append(score)
                row["fit_s"].append(seconds)
                row["predict R²"].append(r2)
            row[f"{task} k={k}"] = float(np.mean(scores))
            row[f"{task} k={k} worst"] = float(np.min(scores))
        row["fit_s"] = float(np.mean(row["fit_s"]))
        row["predict R²"] = float(np.mean(row["predict R²"]))
        print(row, flush=True)
        rows.append(row)
    return rows


def _corrnet(params, k, seed):
    return CorrNet(n_components=k, random_state=seed, device="cpu", **params)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 variants, 1 seed")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    seeds = list(range(1 if args.quick else args.seeds))
    variants = {name: VARIANTS[name] for name in QUICK} if args.quick else VARIANTS
    rows = sweep(variants, splits(seeds))
    columns = [f"{task} k={k}" for task, k in TASKS]
    base = next(r for r in rows if r["model"] == "CorrNet defaults")
    for row in rows:
        row["vs defaults"] = float(np.mean([row[c] / base[c] for c in columns]))
    peers = best_peers(columns)
    lines = [
        f"Held-out total correlation, mean of {len(seeds)} seed(s) per task (worst "
        "seed in brackets); "
        f"machine: {machine()}",
        "",
        *markdown_table([*map(with_worst, rows), *peers],
                        ["model", *columns, "vs defaults", "predict R²", "fit_s"],
                        {"fit_s": ".1f"}),
    ]  # fmt: skip
    save("defaults", {"machine": machine(), "seeds": seeds, "results": rows},
         lines, quick=args.quick)  # fmt: skip


def with_worst(row):
    """A row whose task cells read "mean (worst seed)"."""
    tasks = [f"{task} k={k}" for task, k in TASKS]
    return {**row, **{c: f"{row[c]:.3f} ({row[c + ' worst']:.3f})" for c in tasks}}


def best_peers(columns):
    """The best peer on each task, from quality.py's committed results (5 seeds)."""
    path = RESULTS / "quality.json"
    if not path.exists():
        return []
    summary = json.loads(path.read_text())["summary"]
    row = {"model": "best peer in quality.py (5 seeds; worst seed)"}
    for column in columns:
        task, k = column.split(" k=")
        peers = [r for r in summary if r["task"] == task and r["k"] == int(k)
                 and r["model"] != "CorrNet"]  # fmt: skip
        best = max(peers, key=lambda r: r["total_corr"])
        row[column] = (f"{best['total_corr']:.3f} ({best['worst_seed']:.3f}), "
                       f"{best['model']}")  # fmt: skip
    return [row]


if __name__ == "__main__":
    main()
