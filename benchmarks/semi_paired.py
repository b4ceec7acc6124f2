"""Semi-paired training: a few paired rows plus many rows with one view only.

Protocol: scikit-learn's digits halves (left 32 pixels vs right 32), a
stratified 70/30 split per seed, k=10. Of the 1,257 training rows a fraction
keeps both views; of the others, half keep only the left half and half only
the right half (the missing view is NaN). Models:

* ``CCA, paired rows``: sklearn CCA on the paired rows (CCA cannot use the rest);
* ``CorrNet, paired rows``: CorrNet on the paired rows alone;
* ``CorrNet, semi-paired``: ``CorrNet(allow_missing_views=True)`` on all rows
  (default ``unpaired_weight=1``);
* ``CorrNet, all paired``: CorrNet with every training row paired (the ceiling).

Figures on the 540 held-out rows: R^2 of predicting the right half from the
left, total canonical correlation (Deep-CCA protocol, the linear CCA fitted on
the representations of the paired training rows), recall@1.

Run: python benchmarks/semi_paired.py [--quick] [--seeds N]
Writes benchmarks/results/semi_paired.{json,md}.
"""

import argparse
import warnings

import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.model_selection import train_test_split

from _common import digits_tasks, machine, markdown_table, save, summarise
from skcorrnet import CorrNet
from skcorrnet.metrics import recall_at_k, total_correlation

K = 10
FIGURES = ["r2", "total_corr", "recall@1"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10% paired, 1 seed")
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    seeds = list(range(1 if args.quick else args.seeds))
    fractions = [0.1] if args.quick else [0.05, 0.1, 0.25]
    left, right, strata = digits_tasks()["halves"]

    runs = []
    for fraction in fractions:
        for seed in seeds:
            X, Xt, Y, Yt = train_test_split(
                left, right, test_size=0.3, random_state=seed, stratify=strata
            )
            order = np.random.RandomState(seed).permutation(len(X))
            paired, rest = order[: int(fraction * len(X))], order[int(fraction * len(X)) :]
            X_semi, Y_semi = X.astype(np.float64), Y.astype(np.float64)
            Y_semi[rest[::2]] = np.nan  # left half only
            X_semi[rest[1::2]] = np.nan  # right half only
            fits = {
                "CCA, paired rows": (CCA(n_components=K, max_iter=1000), X[paired], Y[paired]),
                "CorrNet, paired rows": (CorrNet(K, random_state=seed), X[paired], Y[paired]),
                "CorrNet, semi-paired": (
                    CorrNet(K, allow_missing_views=True, random_state=seed), X_semi, Y_semi
                ),
                "CorrNet, all paired": (CorrNet(K, random_state=seed), X, Y),
            }
            for name, (model, A, B) in fits.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(A, B)
                a, b = model.transform(Xt, Yt)
                row = {
                    "paired": fraction,
                    "seed": seed,
                    "model": name,
                    "r2": model.score(Xt, Yt),
                    "total_corr": total_correlation(*model.transform(X[paired], Y[paired]), a, b),
                    "recall@1": recall_at_k(a, b, k=1),
                }
                runs.append(row)
                print(row, flush=True)

    summary = summarise(runs, ("paired", "model"), FIGURES)
    table = [{**row, "paired": f"{row['paired']:.0%}"} for row in summary]
    lines = [
        f"Digits halves, k={K}, 1,257 training rows of which a fraction is paired "
        f"(the rest: half left-only, half right-only); 540 held-out rows; mean over "
        f"{len(seeds)} seed(s). Machine: {machine()}",
        "",
        *markdown_table(table, ["paired", "model", *FIGURES, "total_corr_sd"]),
    ]
    save("semi_paired", {"machine": machine(), "seeds": seeds, "runs": runs, "summary": summary},
         lines, quick=args.quick)


if __name__ == "__main__":
    main()
