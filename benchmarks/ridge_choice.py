"""How CorrNet's linear start chooses its ridge on few rows, against alternatives.

On fewer than about a thousand rows ``CorrNet()`` does not train: its model is
the closed-form ridge CCA it starts from (``early_stopping="auto"``), with the
ridge chosen among ``skcorrnet._linear_cca.RIDGES`` (1e-4 to 1, relative to the
mean eigenvalue; for a view wider than the rows, over the directions they
span) by K-fold cross-validation of the held-out total
correlation, K = min(5, rows // 5), its scores summed over 4 random draws of
the folds (views up to 512 columns); or among ``PLS_RIDGES`` (3, 10, 100 and
1e4: towards PLS, whose directions ignore the within-view covariance) where
their gain per fold over the best of RIDGES exceeds its standard error
(counting K folds, as the draws share rows). This script measures that
choice on small data of several shapes, over many random 70/30 splits (50/50
for 2factor), so that differences of a few hundredths are resolved, against:

* ``without the PLS end``: the same CV over RIDGES alone (CorrNet's rule in
  the twelfth session);
* ``one draw of folds``: CorrNet's rule on a single draw of the folds (its
  rule before the twelfth session, but for the PLS end);
* ``no ridge``: ridge 1e-4 (unregularised CCA, as sklearn's);
* ``CV to 1e4, ungated``: the same CV over RIDGES and PLS_RIDGES as one
  grid, its best taken whatever the noise;
* ``best in hindsight``: the best ridge of that grid for each split, chosen
  on its test rows (an upper bound no method reaches);

the estimator itself, ``CorrNet()``, as a check that the numpy rows
reproduce what it does (it also clips standardised inputs at 5); and
``sklearn CCA`` (NIPALS), the peer that leads ``quality.py``'s very-wide
task. A view wider than its rows is cross-validated in the span of its rows,
as CorrNet does (``skcorrnet._linear_cca.row_spaces``): the same scores.

Shapes: linnerud (20 rows, 3 vs 3), scikit-learn's 2-factor data on 40 rows,
digits halves / image-label / image-descriptor on 60-80 random rows and on
25-40 (fewer rows than pixels), scikit-learn's breast cancer data (the 10
mean features vs the 10 worst, on 60 random rows) and wine data (7 vs 6
features, 178 rows), wide views (40 rows, 120 vs 21 features, 3
factors; 60 rows, 200 vs 200, 4 factors; 40 rows, 3,000 vs 50, 3 factors)
and a 10-factor linear set (200 rows, 100 vs 100 features).

Figures: held-out total canonical correlation (the metrics module's
protocol), mean over the splits, its standard error, and each alternative's
mean paired difference from CorrNet's choice with that difference's error.

Run: python benchmarks/ridge_choice.py [--quick] [--splits N]
Writes benchmarks/results/ridge_choice.{json,md}.
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_linnerud, load_wine
from sklearn.cross_decomposition import CCA
from sklearn.model_selection import train_test_split

from _common import (
    digits_tasks,
    latent_factor_views,
    machine,
    markdown_table,
    save,
    two_factor_views,
)
from skcorrnet import CorrNet
from skcorrnet._canonical import N_FOLDS, _MIN_FOLD_ROWS
from skcorrnet._corrnet import _START_CV_DRAWS
from skcorrnet._linear_cca import (
    PLS_RIDGES,
    RIDGES,
    JointMoments,
    choose_ridge,
    fit_linear_cca,
    row_spaces,
)
from skcorrnet.metrics import total_correlation

COMPARED = "vs CorrNet's choice"
EXTENDED = tuple(RIDGES) + tuple(PLS_RIDGES)
CHOICES = [
    "CorrNet's choice", "without the PLS end", "one draw of folds", "no ridge",
    "CV to 1e4, ungated", "best in hindsight", "CorrNet()", "sklearn CCA",
]  # fmt: skip


def shapes():
    """name -> (X, Y, k, test fraction)."""
    digits = digits_tasks()
    rng = np.random.RandomState(0)
    subsets = [("halves", 60, 5), ("label", 60, 5), ("nonlinear", 80, 3),
               ("halves", 25, 3), ("label", 30, 3), ("nonlinear", 40, 3)]  # fmt: skip
    picked = {(name, rows): rng.choice(1797, rows, replace=False)
              for name, rows, _ in subsets}  # fmt: skip
    linnerud = load_linnerud()
    out = {
        "linnerud k=1": (linnerud.data, linnerud.target, 1, 0.3),
        "linnerud k=2": (linnerud.data, linnerud.target, 2, 0.3),
        "2factor, 40 rows": (*two_factor_views(n=40, seed=1), 2, 0.5),
    }
    for name, rows, k in subsets:
        X, Y, _ = digits[name]
        out[f"digits {name}, {rows} rows"] = (
            X[picked[name, rows]], Y[picked[name, rows]], k, 0.3,
        )  # fmt: skip
    cancer = load_breast_cancer().data[rng.choice(569, 60, replace=False)]
    out["breast cancer, 60 rows, 10 vs 10"] = (cancer[:, :10], cancer[:, 20:], 3, 0.3)
    wine = load_wine().data
    out["wine, 178 rows, 7 vs 6"] = (wine[:, :7], wine[:, 7:], 3, 0.3)
    out["wide, 40 rows, 120 vs 21"] = (
        *latent_factor_views(40, (0.9, 0.7, 0.5), 120, n_features_y=21), 3, 0.3,
    )  # fmt: skip
    out["wide, 60 rows, 200 vs 200"] = (
        *latent_factor_views(60, (0.9, 0.8, 0.7, 0.5), 200), 4, 0.3,
    )  # fmt: skip
    out["very wide, 40 rows, 3000 vs 50"] = (
        *latent_factor_views(40, (0.9, 0.7, 0.5), 3000, n_features_y=50), 3, 0.3,
    )  # fmt: skip
    out["linear, 200 rows, 100 vs 100"] = (
        *latent_factor_views(200, np.linspace(0.9, 0.3, 10), 100), 10, 0.3,
    )  # fmt: skip
    return out


def standardised(train, test):
    mean, scale = train.mean(axis=0), train.std(axis=0)
    scale[scale < 1e-12] = 1.0
    return (train - mean) / scale, (test - mean) / scale


def cv_ridge(X, Y, k, ridges, seed, n_draws=_START_CV_DRAWS, extended=PLS_RIDGES):
    """CorrNet's rule (``_canonical.linear_start``): K random near-equal
    folds, the scores summed over ``n_draws`` draws of them, ``extended``
    taken where their gain is beyond its noise."""
    n_folds = min(N_FOLDS, len(X) // _MIN_FOLD_ROWS)
    if n_folds < 2:
        return RIDGES[0]
    X, Y = (span for span, _ in row_spaces((X, Y)))  # a view wider than the rows
    rng, draws = np.random.default_rng(seed), []
    for _ in range(n_draws):
        folds = rng.permutation(np.arange(len(X)) % n_folds)
        draws.append([JointMoments() for _ in range(n_folds)])
        for fold, moments in enumerate(draws[-1]):
            moments.update(np.hstack([X[folds == fold], Y[folds == fold]]))
    return choose_ridge(draws, X.shape[1], k, ridges, extended)


def one_split(X_all, Y_all, k, test, seed):
    """Held-out total correlation of each choice on one split."""
    X, Xt, Y, Yt = train_test_split(X_all, Y_all, test_size=test, random_state=seed)
    model = CorrNet(n_components=k, random_state=seed).fit(X, Y)
    corrnet = total_correlation(*model.transform(X, Y), *model.transform(Xt, Yt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NIPALS's convergence notes
        nipals = CCA(n_components=k, max_iter=1000).fit(X, Y)
    sklearn_cca = total_correlation(*nipals.transform(X, Y), *nipals.transform(Xt, Yt))
    (X, Xt), (Y, Yt) = standardised(X, Xt), standardised(Y, Yt)

    def score(ridge):
        cca = fit_linear_cca(X, Y, k, ridge)
        return total_correlation(*cca.transform(X, Y), *cca.transform(Xt, Yt))

    by_ridge = {ridge: score(ridge) for ridge in EXTENDED}
    return {
        "CorrNet's choice": by_ridge[cv_ridge(X, Y, k, RIDGES, seed)],
        "without the PLS end": by_ridge[cv_ridge(X, Y, k, RIDGES, seed, extended=())],
        "one draw of folds": by_ridge[cv_ridge(X, Y, k, RIDGES, seed, n_draws=1)],
        "no ridge": by_ridge[RIDGES[0]],
        "CV to 1e4, ungated": by_ridge[cv_ridge(X, Y, k, EXTENDED, seed, extended=())],
        "best in hindsight": max(by_ridge.values()),
        "CorrNet()": corrnet,
        "sklearn CCA": sklearn_cca,
    }


def error(values):
    """Standard error of the mean of ``values``."""
    return values.std(ddof=1) / np.sqrt(len(values))


def summary_rows(shape, splits):
    base = np.array([s["CorrNet's choice"] for s in splits])
    rows = []
    for choice in CHOICES:
        got = np.array([s[choice] for s in splits])
        diff = got - base
        rows.append({
            "shape": shape, "choice": choice, "total_corr": got.mean(),
            "se": error(got),
            COMPARED: f"{diff.mean():+.3f} ± {error(diff):.3f}",
        })  # fmt: skip
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="3 splits a shape")
    args = parser.parse_args()
    if args.quick:
        args.splits = 3
    runs, table = {}, []
    for shape, (X, Y, k, test) in shapes().items():
        X, Y = np.asarray(X, dtype=np.float64), np.asarray(Y, dtype=np.float64)
        runs[shape] = [one_split(X, Y, k, test, seed) for seed in range(args.splits)]
        table += summary_rows(shape, runs[shape])
        print(table[-len(CHOICES):], flush=True)
    lines = [
        f"Held-out total correlation over {args.splits} random splits per shape "
        "(mean, its standard error, and the mean paired difference from "
        f"CorrNet's ridge choice ± its error). Machine: {machine()}",
        "",
        *markdown_table(table, ["shape", "choice", "total_corr", "se", COMPARED]),
    ]
    payload = {"machine": machine(), "splits": args.splits, "runs": runs}
    save("ridge_choice", payload, lines, quick=args.quick)


if __name__ == "__main__":
    main()
