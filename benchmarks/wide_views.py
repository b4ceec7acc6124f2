"""Views wider than the linear start's limit, on many rows: where the start is solved.

Two views of 3,000 columns each share 10 linear factors (population canonical
correlations 0.9 to 0.3, ``_common.latent_factor_views``); 5,000 training rows,
2,000 held out, k = 10. A view this wide is over the 2,048 columns
(``skcorrnet._canonical.MAX_START_WIDTH``) up to which ``CorrNet()`` solves its
linear start in the view's columns, and there are more rows than that, so the
start is solved in the span of each view's 256 leading principal directions
(``PRINCIPAL_DIRECTIONS``, from a sample of up to 4,096 training rows). Before
the fourteenth session such views started from random weights. Models, side by
side in one run:

* ``sklearn CCA`` (NIPALS);
* ``ridge CCA (CV), in the columns``: the closed-form ridge CCA of the full
  standardised views, its ridge chosen as CorrNet's start chooses it (5-fold CV
  over ``RIDGES``, one draw): the start a CorrNet would get in the columns;
* cca-zoo's DCCA, with CorrNet's default encoders and batch, the peers' learning rate
  (``_deep_peers.PEER_RATE``) and
  100-epoch budget (``_deep_peers.py``; ``--no-deep`` leaves it out);
* ``CorrNet(init="random")``: the start these views got before;
* ``CorrNet()``: the start in the principal directions, then training.

Figures: held-out total canonical correlation (the metrics module's protocol)
and fit seconds: the mean over the seeds, the sd and the worst seed.

Run: python benchmarks/wide_views.py [--seeds N] [--quick] [--no-deep] (2 seeds:
about 25 minutes on 2 cores, sklearn's CCA 5 of them a seed).
Writes benchmarks/results/wide_views.{json,md}.
"""

import argparse
import logging
import time
import warnings

from sklearn.cross_decomposition import CCA

from _common import (
    TEN_FACTORS,
    factor_split,
    machine,
    markdown_table,
    save,
    summarise,
)
from _deep_peers import DeepPeer
from ridge_choice import cv_ridge, standardised
from skcorrnet import CorrNet
from skcorrnet._linear_cca import RIDGES, fit_linear_cca
from skcorrnet.metrics import total_correlation

K, N_TEST = 10, 2000


class ColumnsRidgeCCA:
    """The closed-form ridge CCA of the standardised views, its ridge by
    CorrNet's CV (one draw of 5 folds over RIDGES)."""

    def __init__(self, seed):
        self.seed = seed

    def fit(self, X, Y):
        self.X_, self.Y_ = X, Y
        (Xs, _), (Ys, _) = standardised(X, X[:1]), standardised(Y, Y[:1])
        ridge = cv_ridge(Xs, Ys, K, RIDGES, self.seed, n_draws=1, extended=())
        self.cca_ = fit_linear_cca(Xs, Ys, K, ridge)
        return self

    def transform(self, X, Y):
        (_, Xs), (_, Ys) = standardised(self.X_, X), standardised(self.Y_, Y)
        return self.cca_.transform(Xs, Ys)


def peers(seed, deep, ridge_name):
    """sklearn's CCA, the ridge CCA in the columns (named ``ridge_name``) and,
    with ``deep``, cca-zoo's DCCA: the peers CorrNet is fitted beside."""
    models = {
        "sklearn CCA": lambda: CCA(n_components=K),
        ridge_name: lambda: ColumnsRidgeCCA(seed),
    }
    if deep:
        models["cca-zoo DCCA"] = lambda: DeepPeer("DCCA", K, seed=seed)
    return models


def competitors(seed, deep):
    models = peers(seed, deep, "ridge CCA (CV), in the columns")
    models['CorrNet(init="random")'] = lambda: CorrNet(K, init="random", random_state=seed)
    models["CorrNet()"] = lambda: CorrNet(K, random_state=seed)
    return models


def run(make, X, Xt, Y, Yt):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NIPALS's convergence notes
        model = make().fit(X, Y)
    fit_s = time.perf_counter() - start
    corr = total_correlation(*model.transform(X, Y), *model.transform(Xt, Yt))
    return {"total_corr": corr, "fit_s": fit_s}


def main():
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1,000 columns, 1 seed")
    parser.add_argument("--no-deep", action="store_true", help="without cca-zoo")
    args = parser.parse_args()
    width, seeds = (1000, 1) if args.quick else (3000, args.seeds)
    runs = []
    for seed in range(seeds):
        split = factor_split(5000, N_TEST, width, seed)
        for name, make in competitors(seed, not args.no_deep).items():
            runs.append({"model": name, "seed": seed, **run(make, *split)})
            print(runs[-1], flush=True)
    table = summarise(runs, ("model",), ["total_corr", "fit_s"])
    for row in table:
        row["worst_corr"] = min(r["total_corr"] for r in runs if r["model"] == row["model"])
    lines = [
        f"{width} ↔ {width} columns, 5,000 training rows, {N_TEST} held out, k={K}, "
        f"10 linear factors (population total {TEN_FACTORS.sum():.2f}); mean of {seeds} "
        f"seeds (sd of total_corr). Machine: {machine()}",
        "",
        *markdown_table(table, ["model", "total_corr", "total_corr_sd", "worst_corr",
                                "fit_s"],
                        {"fit_s": ".1f"}),
    ]  # fmt: skip
    save("wide_views", {"machine": machine(), "runs": runs}, lines, quick=args.quick)


if __name__ == "__main__":
    main()
