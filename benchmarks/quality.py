"""Quality on real data: sklearn CCA, ridge CCA and CorrNet side by side.

Tasks (scikit-learn's digits, a stratified 70/30 split per seed):

* ``halves``: left half (32 pixels) vs right half;
* ``label``: whole image (64 pixels) vs one-hot label (10 columns, centred
  rank 9, so k is capped at 9 there).

Competitors, each with ``n_components=k``: ``sklearn.cross_decomposition.CCA``;
closed-form ridge CCA with the ridge chosen by 3-fold cross-validation on the
training rows (a well-regularised linear CCA); ``CorrNet(n_components=k)`` with
every other setting at its default.

Figures, all on the held-out rows:

* ``total_corr``: total canonical correlation, Deep-CCA protocol (a linear CCA
  fitted on the training representations, applied to the test ones);
* ``sum_corr``: summed correlation of the model's own paired components (the
  CorrNet paper's protocol);
* ``r2``: R^2 of predicting y from X (ridge CCA: least squares on its
  X components, as CCA's own ``predict`` does);
* ``recall@1``: halves: a left half retrieves its own right half among all
  test right halves; label: an image retrieves its label among the 10 labels
  (nearest label embedding, cosine), i.e. the accuracy of retrieval;
* ``fit_s``: wall-clock fit time (CV included for ridge CCA).

Run: python benchmarks/quality.py [--quick] [--seeds N]
Writes benchmarks/results/quality.{json,md,png}.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, train_test_split

from _common import (
    RIDGES,
    digits_tasks,
    label_ranks,
    machine,
    markdown_table,
    pyplot,
    save,
    summarise,
)
from skcorrnet import CorrNet
from skcorrnet._linear_cca import fit_linear_cca
from skcorrnet.metrics import recall_at_k, sum_of_correlations, total_correlation

FIGURES = ["total_corr", "sum_corr", "r2", "recall@1", "fit_s"]


class RidgeCCA:
    """Closed-form CCA, ridge chosen by K-fold CV on held-out total correlation."""

    def __init__(self, n_components, ridges=RIDGES, cv=3, random_state=0):
        self.n_components = n_components
        self.ridges = ridges
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, Y):
        folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
        scores = np.zeros(len(self.ridges))
        for train, val in folds.split(X):
            for i, reg in enumerate(self.ridges):
                cca = fit_linear_cca(X[train], Y[train], self.n_components, reg)
                scores[i] += sum_of_correlations(*cca.transform(X[val], Y[val]))
        self.reg_ = self.ridges[int(np.argmax(scores))]
        self.cca_ = fit_linear_cca(X, Y, self.n_components, self.reg_)
        # CCA's predict: least squares from the X components to Y.
        scores_x = self.cca_.transform(X, Y)[0]
        design = np.column_stack([scores_x, np.ones(len(X))])
        self.coef_ = np.linalg.lstsq(design, Y, rcond=None)[0]
        return self

    def transform(self, X, Y):
        return self.cca_.transform(X, Y)

    def predict(self, X):
        scores_x = (X - self.cca_.mean_a) @ self.cca_.weights_a
        return np.column_stack([scores_x, np.ones(len(X))]) @ self.coef_


def competitors(k, seed):
    return {
        "sklearn CCA": CCA(n_components=k, max_iter=1000),
        "ridge CCA (CV)": RidgeCCA(k, random_state=seed),
        "CorrNet": CorrNet(n_components=k, random_state=seed),
    }


def evaluate(model, task, X, Y, Xt, Yt):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes of CCA and CorrNet
        model.fit(X, Y)
    fit_s = time.perf_counter() - start
    a, b = model.transform(X, Y)
    at, bt = model.transform(Xt, Yt)
    return {
        "total_corr": total_correlation(a, b, at, bt),
        "sum_corr": sum_of_correlations(at, bt),
        "r2": r2_score(Yt, model.predict(Xt)),
        "recall@1": recall_at_k(at, bt, k=1)
        if task == "halves"
        else float(np.mean(label_ranks(model, Xt, Yt) == 1)),
        "fit_s": fit_s,
    }


def plot(summary, path):
    plt = pyplot()
    tasks = sorted({row["task"] for row in summary})
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
        ax.set_title(f"digits {task}")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="k=10 only, 1 seed")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    seeds = list(range(1 if args.quick else args.seeds))
    ks = [10] if args.quick else [5, 10, 20]

    runs = []
    for task, (X_all, Y_all, strata) in digits_tasks().items():
        rank_y = Y_all.shape[1] - 1 if task == "label" else Y_all.shape[1]
        for k in sorted({min(k, rank_y) for k in ks}):
            for seed in seeds:
                X, Xt, Y, Yt = train_test_split(
                    X_all, Y_all, test_size=0.3, random_state=seed, stratify=strata
                )
                for name, model in competitors(k, seed).items():
                    row = {"task": task, "k": k, "seed": seed, "model": name}
                    row.update(evaluate(model, task, X, Y, Xt, Yt))
                    runs.append(row)
                    print(row, flush=True)

    summary = summarise(runs, ("task", "k", "model"), FIGURES)

    lines = [
        f"Digits, held-out 30%, mean over {len(seeds)} seed(s). Machine: {machine()}",
        "",
    ]
    table_rows = [
        {**r, "k": str(r["k"]), "total_corr": f"{r['total_corr']:.3f} ± {r['total_corr_sd']:.3f}"}
        for r in summary
    ]
    lines += markdown_table(
        table_rows, ["task", "k", "model", *FIGURES], {"fit_s": ".2f"}
    )
    stem = save(
        "quality",
        {"machine": machine(), "seeds": seeds, "runs": runs, "summary": summary},
        lines,
        quick=args.quick,
    )
    plot(summary, stem.with_suffix(".png"))


if __name__ == "__main__":
    main()
