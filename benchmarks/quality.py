"""Held-out correlation on every data shape: CorrNet() against its peers.

Tasks (a 70/30 split per seed, stratified for digits):

* ``halves``: digits, left half (32 pixels) vs right half, k = 5, 10, 20;
* ``label``: digits, whole image (64 pixels) vs one-hot label (10 columns,
  centred rank 9), k = 5, 9;
* ``2factor``: scikit-learn's compare-cross-decomposition data (500 rows, 4
  features per view sharing 2 latent factors, 50/50 split), k = 2;
* ``linnerud``: scikit-learn's linnerud (20 rows, 3 vs 3 features), k = 1,
  2, 3, one split per seed (6 held-out rows), and ``linnerud, 10 splits``:
  each seed's figure the mean over 10 splits (the seed's own and 9 more);
* ``cancer``: scikit-learn's breast-cancer data, real measurements of cell
  nuclei: the mean of 10 features over each sample's nuclei vs their worst
  (largest) values (569 rows, 10 vs 10), k = 3, 5;
* ``nonlinear``: digits pixels vs a nonlinear descriptor of the same image
  (squares of 32 fixed random projections of the standardised pixels), k=10;
* ``wide``: fewer rows than features, the shape of a biology study: 40 rows,
  120 vs 21 features sharing 3 latent factors (population canonical
  correlations 0.9, 0.7, 0.5, sum 2.1; ``_common.latent_factor_views``), k=3;
* ``very wide``: the same factors on 40 rows of 3,000 vs 50 features (views
  wider than ``init="auto"``'s 2,048-column limit for a start in the
  columns: it is solved in the span of the rows), k=3.

Competitors, each with ``n_components=k``: ``sklearn.cross_decomposition.CCA``;
closed-form ridge CCA with the ridge chosen by 3-fold cross-validation on the
training rows (a well-regularised linear CCA), among the ridges CorrNet tries
first (``RIDGES``, 1e-4 to 1 relative to the mean eigenvalue) and, as a
second peer, among those and ``PLS_RIDGES`` (up to 1e4: nearly PLS, as
cca-zoo's ``shrinkage`` reaches from 0, CCA, to 1, PLS); cca-zoo 4.0.1's DCCA and DCCAE
(``_deep_peers.py``: CorrNet's widths, batch and epoch budget, at 1e-2;
``--no-deep`` leaves them out); ``CorrNet(n_components=k)`` with every other
setting at its default.

Figures, all on the held-out rows:

* ``total_corr``: total canonical correlation, Deep-CCA protocol (a linear CCA
  fitted on the training representations, applied to the test ones), mean and
  standard deviation over the seeds;
* ``worst_seed``: the lowest ``total_corr`` of the seeds;
* ``fit_s``: wall-clock fit time (CV included for ridge CCA).

Run: python benchmarks/quality.py [--quick] [--seeds N] [--no-deep]
Writes benchmarks/results/quality.{json,md,png}.
"""

import argparse
import logging
import time
import warnings

import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.datasets import load_breast_cancer, load_linnerud
from sklearn.model_selection import train_test_split

from _common import (
    RidgeCCA,
    two_factor_views,
    digits_tasks,
    latent_factor_views,
    machine,
    markdown_table,
    pyplot,
    save,
    summarise,
)
from _deep_peers import DeepPeer
from skcorrnet import CorrNet
from skcorrnet._linear_cca import PLS_RIDGES, RIDGES
from skcorrnet.metrics import total_correlation

FIGURES = ["total_corr", "worst_seed", "fit_s"]
WIDE_FACTORS = (0.9, 0.7, 0.5)
# Splits per seed of "linnerud, 10 splits": split r of seed s has random state
# s + 100 r (r = 0 is the one-split task's).
LINNERUD_SPLITS = 10


def competitors(k, seed, deep, hidden=None):
    """The models of one task; ``hidden`` sets CorrNet's and the deep peers'
    widths (None: CorrNet's default, which the peers then match)."""
    widths = {} if hidden is None else {"hidden_layer_sizes": hidden}
    peer_widths = {} if hidden is None else {"hidden": hidden}
    models = {
        "sklearn CCA": CCA(n_components=k, max_iter=1000),
        "ridge CCA (CV)": RidgeCCA(k, random_state=seed),
        "ridge CCA (CV, to PLS)": RidgeCCA(
            k, ridges=RIDGES + PLS_RIDGES, random_state=seed
        ),
    }
    if deep:
        models["cca-zoo DCCA"] = DeepPeer("DCCA", k, seed=seed, **peer_widths)
        models["cca-zoo DCCAE"] = DeepPeer("DCCAE", k, seed=seed, **peer_widths)
    models["CorrNet"] = CorrNet(n_components=k, random_state=seed, **widths)
    return models


def evaluate(model, X, Y, Xt, Yt):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CCA's convergence notes
        model.fit(X, Y)
    fit_s = time.perf_counter() - start
    a, b = model.transform(X, Y)
    at, bt = model.transform(Xt, Yt)
    return {"total_corr": total_correlation(a, b, at, bt), "fit_s": fit_s}


def run_seed(task, data, k, seed, deep, hidden):
    """Each model's figures on one seed of a task: their means over the
    seed's splits (split r at random state seed + 100 r)."""
    X_all, Y_all, strata, _, test_size, n_splits = data
    figures = {}
    for r in range(n_splits):
        X, Xt, Y, Yt = train_test_split(
            X_all, Y_all, test_size=test_size, random_state=seed + 100 * r,
            stratify=strata,
        )
        for name, model in competitors(k, seed, deep, hidden).items():
            figures.setdefault(name, []).append(evaluate(model, X, Y, Xt, Yt))
    return [
        {"task": task, "k": k, "seed": seed, "model": name,
         **{fig: float(np.mean([e[fig] for e in entries])) for fig in ("total_corr", "fit_s")}}
        for name, entries in figures.items()
    ]  # fmt: skip


def tasks(quick):
    """name -> (X, Y, stratification or None, ks, test fraction, splits per seed)."""
    digits = digits_tasks()
    out = {
        "halves": (*digits["halves"], [10] if quick else [5, 10, 20], 0.3, 1),
        "label": (*digits["label"], [9] if quick else [5, 9], 0.3, 1),
        "nonlinear": (*digits["nonlinear"], [10], 0.3, 1),
    }
    if not quick:
        linnerud = load_linnerud()
        cancer = load_breast_cancer().data
        out["2factor"] = (*two_factor_views(), None, [2], 0.5, 1)
        out["linnerud"] = (linnerud.data, linnerud.target, None, [1, 2, 3], 0.3, 1)
        out["linnerud, 10 splits"] = (*out["linnerud"][:5], LINNERUD_SPLITS)
        out["cancer"] = (cancer[:, :10], cancer[:, 20:], None, [3, 5], 0.3, 1)
        wide = latent_factor_views(40, WIDE_FACTORS, 120, n_features_y=21)
        out["wide"] = (*wide, None, [3], 0.3, 1)
        very_wide = latent_factor_views(40, WIDE_FACTORS, 3000, n_features_y=50)
        out["very wide"] = (*very_wide, None, [3], 0.3, 1)
    return out


def plot(summary, path):
    plt = pyplot()
    tasks = list(dict.fromkeys(row["task"] for row in summary))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.6))
    for ax, task in zip(np.atleast_1d(axes), tasks):
        rows = [row for row in summary if row["task"] == task]
        ks = sorted({row["k"] for row in rows})
        models = list(dict.fromkeys(row["model"] for row in rows))
        width = 0.8 / len(models)
        for i, name in enumerate(models):
            got = {row["k"]: row for row in rows if row["model"] == name}
            ax.bar(
                np.arange(len(ks)) + i * width,
                [got[k]["total_corr"] for k in ks],
                width,
                yerr=[got[k]["total_corr_sd"] for k in ks],
                label=name,
            )
        ax.set_xticks(np.arange(len(ks)) + width * (len(models) - 1) / 2)
        ax.set_xticklabels([f"k={k}" for k in ks])
        ax.set_ylabel("held-out total correlation")
        ax.set_title(task)
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="k=10 only, 1 seed")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-deep", action="store_true", help="without cca-zoo")
    parser.add_argument(
        "--hidden", help="e.g. 256,256: CorrNet's and the deep peers' hidden widths; "
        "results go to quality-hidden-256-256.*",
    )  # fmt: skip
    args = parser.parse_args()
    hidden = None if args.hidden is None else tuple(map(int, args.hidden.split(",")))
    seeds = list(range(1 if args.quick else args.seeds))

    runs = []
    for task, data in tasks(args.quick).items():
        for k in data[3]:
            for seed in seeds:
                for row in run_seed(task, data, k, seed, not args.no_deep, hidden):
                    runs.append(row)
                    print(row, flush=True)

    for row in runs:
        row["worst_seed"] = row["total_corr"]
    summary = summarise(runs, ("task", "k", "model"), ["total_corr", "fit_s"])
    for row in summary:
        row["worst_seed"] = min(
            r["total_corr"] for r in runs
            if (r["task"], r["k"], r["model"]) == (row["task"], row["k"], row["model"])
        )

    lines = [
        f"Held-out total correlation, mean over {len(seeds)} seed(s) (± sd), the "
        f"worst seed, and fit seconds. Machine: {machine()}",
        "",
    ]
    table_rows = [
        {**r, "k": str(r["k"]), "total_corr": f"{r['total_corr']:.3f} ± {r['total_corr_sd']:.3f}"}
        for r in summary
    ]
    lines += markdown_table(
        table_rows, ["task", "k", "model", *FIGURES], {"fit_s": ".2f"}
    )
    name = "quality" if hidden is None else "quality-hidden-" + "-".join(map(str, hidden))
    if hidden is not None:
        lines.insert(1, f"CorrNet and the deep peers with hidden layers {hidden}.")
    stem = save(
        name,
        {"machine": machine(), "seeds": seeds, "runs": runs, "summary": summary},
        lines,
        quick=args.quick,
    )
    plot(summary, stem.with_suffix(".png"))


if __name__ == "__main__":
    main()
