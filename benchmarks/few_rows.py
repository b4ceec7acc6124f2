"""A few hundred rows: where CorrNet() starts to train.

Below ``early_stopping="auto"``'s threshold of held-out rows the model is the
linear start (a ridge CCA); above it, CorrNet trains and early stopping keeps
a trained epoch only where it beats the start by ``tol`` on the held-out rows.
This script measures the shapes around the threshold, side by side in one run:

* ``halves``, ``label``, ``nonlinear``: the digits tasks of ``quality.py``
  (k = 10, 9, 10), the first n rows of each seed's stratified 70% training
  split, scored on its 30% (540 rows);
* ``linear, p cols``: two views of p = 16, 64 and 200 columns sharing 10
  linear factors (population canonical correlations 0.9 to 0.3, total 6.00;
  ``_common.latent_factor_views``), n training rows, 2,000 held out, k = 10;

for n = 300 and 600 training rows, 3 seeds each. Models:

* ``sklearn CCA`` (NIPALS);
* ``ridge CCA (CV)``: the closed-form ridge CCA, its ridge by 3-fold CV;
* cca-zoo's ``DCCA`` and ``DCCAE`` (``_deep_peers.py``: CorrNet's widths,
  batch and epoch budget; ``--no-deep`` leaves them out);
* ``CorrNet(), linear start only``: ``CorrNet()`` as it was when
  ``"auto"`` validated training only from 100 held-out rows (1,000 paired
  rows) up: here, its linear start (set through the private threshold, as no
  parameter reaches it);
* ``CorrNet()``: the defaults.

Figures: held-out total correlation (the metrics module's protocol), mean
over the seeds with its sd, the worst seed, and fit seconds.

Run: python benchmarks/few_rows.py [--seeds N] [--quick] [--no-deep] (about 7
minutes on 2 cores; ``--quick``: 300 rows, 1 seed). Writes
benchmarks/results/few_rows.{json,md}.
"""

import argparse
import logging

from sklearn.cross_decomposition import CCA
from sklearn.model_selection import train_test_split

import skcorrnet._corrnet
from _common import (
    RidgeCCA,
    digits_tasks,
    factor_split,
    machine,
    markdown_table,
    save,
    summarise,
)
from _deep_peers import DeepPeer
from skcorrnet import CorrNet
from wide_views import run

SIZES = (300, 600)
DIGITS = (("halves", 10), ("label", 9), ("nonlinear", 10))
WIDTHS = (16, 64, 200)
N_TEST = 2000
# The threshold of held-out rows before the seventeenth session.
FORMER_MIN_VALIDATION_ROWS = 100


class LinearStartOnly(CorrNet):
    """CorrNet() fitted under the former threshold: below 1,000 paired rows
    its model is its linear start."""

    def fit(self, X, y):
        current = skcorrnet._corrnet._MIN_VALIDATION_ROWS
        skcorrnet._corrnet._MIN_VALIDATION_ROWS = FORMER_MIN_VALIDATION_ROWS
        try:
            return super().fit(X, y)
        finally:
            skcorrnet._corrnet._MIN_VALIDATION_ROWS = current


def tasks(seeds, sizes):
    """(task, k, n) -> list of (seed, X, Xt, Y, Yt)."""
    digits, out = digits_tasks(), {}
    for n in sizes:
        for task, k in DIGITS:
            X_all, Y_all, strata = digits[task]
            out[task, k, n] = []
            for seed in seeds:
                X, Xt, Y, Yt = train_test_split(
                    X_all, Y_all, test_size=0.3, random_state=seed, stratify=strata
                )
                out[task, k, n].append((seed, X[:n], Xt, Y[:n], Yt))
        for width in WIDTHS:
            out[f"linear, {width} cols", 10, n] = [
                (seed, *factor_split(n, N_TEST, width, seed)) for seed in seeds
            ]
    return out


def competitors(k, seed, deep):
    models = {
        "sklearn CCA": lambda: CCA(n_components=k, max_iter=1000),
        "ridge CCA (CV)": lambda: RidgeCCA(k, random_state=seed),
    }
    if deep:
        models["cca-zoo DCCA"] = lambda: DeepPeer("DCCA", k, seed=seed)
        models["cca-zoo DCCAE"] = lambda: DeepPeer("DCCAE", k, seed=seed)
    models["CorrNet(), linear start only"] = lambda: LinearStartOnly(
        k, random_state=seed
    )
    models["CorrNet()"] = lambda: CorrNet(k, random_state=seed)
    return models


def main():
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="300 rows, 1 seed")
    parser.add_argument("--no-deep", action="store_true", help="without cca-zoo")
    args = parser.parse_args()
    if args.quick:
        args.seeds = 1
    runs = []
    sizes = SIZES[:1] if args.quick else SIZES
    for (task, k, n), splits in tasks(range(args.seeds), sizes).items():
        for seed, *split in splits:
            for name, make in competitors(k, seed, not args.no_deep).items():
                row = {"task": task, "k": k, "n": n, "model": name, "seed": seed}
                runs.append({**row, **run(make, *split)})
                print(runs[-1], flush=True)
    summary = summarise(runs, ("task", "k", "n", "model"), ["total_corr", "fit_s"])
    for row in summary:
        row["worst_seed"] = min(
            r["total_corr"] for r in runs
            if all(r[key] == row[key] for key in ("task", "k", "n", "model"))
        )  # fmt: skip
    shown = [
        {**row, "k": str(row["k"]), "n": str(row["n"]),
         "total_corr": f"{row['total_corr']:.3f} ± {row['total_corr_sd']:.3f}"}
        for row in summary
    ]  # fmt: skip
    lines = [
        f"Held-out total correlation, mean over {args.seeds} seeds (± sd), the "
        f"worst seed, and fit seconds. Machine: {machine()}",
        "",
        *markdown_table(
            shown, ["task", "k", "n", "model", "total_corr", "worst_seed", "fit_s"],
            {"fit_s": ".2f"},
        ),
    ]
    payload = {"machine": machine(), "seeds": args.seeds, "runs": runs,
               "summary": summary}  # fmt: skip
    save("few_rows", payload, lines, quick=args.quick)


if __name__ == "__main__":
    main()
