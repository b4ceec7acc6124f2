"""How CorrNet's defaults are chosen: one setting changed at a time, on the
digits tasks where they are closest to (or behind) the best peer, and on two
synthetic shapes that pull the other way.

Protocol: ``benchmarks/quality.py``'s, on its digits tasks (a stratified
70/30 split per seed): halves at k = 10 and 20, image vs label at k = 9, and
pixels vs a nonlinear descriptor at k = 10. And, k = 10, two views sharing 10
linear factors (population canonical correlations 0.9 to 0.3,
``_common.latent_factor_views``, the model's draw set by the seed):

* ``mid-width``: ``mid_width.py``'s narrower shape, 200 vs 200 columns, 1,400
  training and 2,000 held-out rows (early stopping scores 140 rows);
* ``linear 5k``: ``ranking.py``'s linear-1k data, 64 vs 64 columns, 5,000
  training and 1,000 held-out rows (many rows per column, where a network
  trained without early stopping drifts from the shared factors).

Figure: held-out total canonical correlation (a linear CCA fitted on the
training representations, its held-out correlations summed), mean over the
seeds. Reference rows: the CV-ridge CCA, and, from the committed results of
quality.py, mid_width.py and ranking.py, the best peer on each task. Each
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

from _common import (
    RESULTS,
    RidgeCCA,
    digits_tasks,
    factor_split,
    machine,
    markdown_table,
    save,
)
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
    "learning_rate_init=1e-2 (auto's rate here until the sixteenth session)": {
        "learning_rate_init": 1e-2
    },
    "learning_rate_init=2e-2": {"learning_rate_init": 2e-2},
    "early_stopping=False": {"early_stopping": False},
    "n_iter_no_change=30": {"n_iter_no_change": 30},
    "tol=0 (any gain of the score counts)": {"tol": 0.0},
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
# (task, k) pairs: quality.py's digits tasks where a second layer let DCCA
# pull ahead, then the synthetic shapes (SYNTHETIC: columns, training rows,
# held-out rows).
TASKS = [("halves", 10), ("halves", 20), ("label", 9), ("nonlinear", 10),
         ("mid-width", 10), ("linear 5k", 10)]  # fmt: skip
SYNTHETIC = {"mid-width": (200, 1400, 2000), "linear 5k": (64, 5000, 1000)}
QUICK = ["defaults", "the paper's model", "init=random"]


def splits(seeds):
    """(task, k) -> list of (seed, X, Xt, Y, Yt)."""
    digits = digits_tasks()
    out = {}
    for task, k in TASKS:
        if task in SYNTHETIC:
            width, n_train, n_test = SYNTHETIC[task]
            out[task, k] = [
                (seed, *factor_split(n_train, n_test, width, seed)) for seed in seeds
            ]
            continue
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
    """The best peer on each task, from the committed results of the
    benchmark that runs it side by side with CorrNet."""
    seeds = {source: _seeds(source) for source in ("quality", "mid_width", "ranking")}
    row = {"model": "best peer (committed results: "
                    f"quality.py, {seeds['quality']} seeds; mid_width.py, "
                    f"{seeds['mid_width']}; ranking.py, {seeds['ranking']}; worst seed)"}  # fmt: skip
    for column in columns:
        task, k = column.split(" k=")
        row[column] = _best_peer(task, int(k))
    return [row]


def _seeds(source):
    """The number of seeds in ``source``'s committed results of the task
    the best peer is read from ("?" if none)."""
    path = RESULTS / f"{source}.json"
    if not path.exists():
        return "?"
    runs = json.loads(path.read_text())["runs"]
    if source == "ranking":
        runs = [run for run in runs if run["task"] == "linear-1k"]
    return len({run["seed"] for run in runs})


def _best_peer(task, k):
    """"mean (worst seed), model" of the best model other than CorrNet on
    ``task`` in its source's results ("" where they are missing)."""
    source = {"mid-width": "mid_width", "linear 5k": "ranking"}.get(task, "quality")
    path = RESULTS / f"{source}.json"
    if not path.exists():
        return ""
    saved = json.loads(path.read_text())
    if source == "quality":
        peers = [(r["model"], r["total_corr"], r["worst_seed"])
                 for r in saved["summary"] if r["task"] == task and r["k"] == k]  # fmt: skip
    elif source == "ranking":  # its summary keeps no worst seed of total_corr
        peers = [(r["model"], r["total_corr"], np.nan)
                 for r in saved["summary"] if r["task"] == "linear-1k"]  # fmt: skip
    else:
        runs = [r for r in saved["runs"] if r["shape"].startswith("200 ")]
        peers = [(name, np.mean(scores), np.min(scores)) for name, scores in
                 _by_model(runs).items()]  # fmt: skip
    name, mean, worst = max(
        (p for p in peers if not p[0].startswith("CorrNet")), key=lambda p: p[1]
    )
    worst = f"{worst:.3f}" if np.isfinite(worst) else "n/a"
    return f"{mean:.3f} ({worst}), {name}"


def _by_model(runs):
    """Model name -> its runs' held-out total correlations."""
    out = {}
    for run in runs:
        out.setdefault(run["model"], []).append(run["total_corr"])
    return out


if __name__ == "__main__":
    main()
