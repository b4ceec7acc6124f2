"""Lost components: per-seed canonical correlations of ``CorrNet()``, training and held out.

On digits halves (k=10, a stratified 70/30 split per seed, as ``ranking.py``),
each seed's ``CorrNet()`` is fitted and its components' correlations are shown
on the training rows (``canonical_correlations_``) and on the held-out rows,
with the held-out total correlation. A component whose training correlation
is far below the others' is lost: the network did not find a tenth shared
direction, which the minibatch correlation term (128 rows) does not reveal.
The figure to watch is each seed's weakest training correlation.

Beside it, the workaround available today: ``CorrNet(n_components=K + SPARE)``,
keeping its first K components (canonical components come ordered by their
training correlation), so that a unit the training fails to align falls
outside the K kept.

Run: python benchmarks/components.py [--seeds N]
Writes benchmarks/results/components.{json,md}.
"""

import argparse
import warnings

import numpy as np
from sklearn.model_selection import train_test_split

from _common import digits_tasks, machine, markdown_table, save
from skcorrnet import CorrNet
from skcorrnet.metrics import total_correlation

K = 10
SPARE = 2


def measure(seed, X, Xt, Y, Yt, spare=0):
    """Figures of the first K components of ``CorrNet(n_components=K + spare)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CorrNet(n_components=K + spare, random_state=seed).fit(X, Y)
    a, b = (z[:, :K] for z in model.transform(X, Y))
    at, bt = (z[:, :K] for z in model.transform(Xt, Yt))
    train = model.canonical_correlations_[:K]
    return {
        "seed": seed,
        "model": f"CorrNet(n_components={K + spare})" + (f"[:, :{K}]" if spare else ""),
        "total_corr": total_correlation(a, b, at, bt),
        "train": train.tolist(),
        "held_out": [float(np.corrcoef(at[:, j], bt[:, j])[0, 1]) for j in range(K)],
        "weakest_train": float(train[-1]),
        "n_iter": model.n_iter_,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    X_all, Y_all, strata = digits_tasks()["halves"]
    runs = []
    for seed in range(args.seeds):
        X, Xt, Y, Yt = train_test_split(
            X_all, Y_all, test_size=0.3, random_state=seed, stratify=strata
        )
        for spare in (0, SPARE):
            runs.append(measure(seed, X, Xt, Y, Yt, spare))
            print(runs[-1], flush=True)
    runs.sort(key=lambda r: r["model"])
    table = [
        {**r, "train": " ".join(f"{c:.2f}" for c in r["train"]),
         "held_out": " ".join(f"{c:.2f}" for c in r["held_out"])}
        for r in runs
    ]  # fmt: skip
    lines = [
        f"Digits halves, 70/30 split per seed; the first {K} components of each "
        f"model. Mean held-out total correlation: "
        + ", ".join(
            f"{name} {np.mean([r['total_corr'] for r in runs if r['model'] == name]):.3f}"
            for name in dict.fromkeys(r["model"] for r in runs)
        )
        + f". Machine: {machine()}",
        "",
        *markdown_table(
            table,
            ["model", "seed", "total_corr", "weakest_train", "n_iter", "train", "held_out"],
            {"total_corr": ".3f", "weakest_train": ".2f", "seed": "d", "n_iter": "d"},
        ),
    ]
    save("components", {"machine": machine(), "runs": runs}, lines)


if __name__ == "__main__":
    main()
