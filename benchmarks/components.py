"""Lost components: per-seed canonical correlations of ``CorrNet()``, training and held out.

On digits halves (k=10, a stratified 70/30 split per seed, as ``ranking.py``),
each seed's model is fitted and its components' correlations are shown on
the training rows (``canonical_correlations_``) and on the held-out rows,
with the held-out total correlation. A component whose held-out correlation
is far below the others' is lost.

Two models per seed: ``CorrNet()`` (inputs clipped to 5 training standard
deviations, ``input_clip=5.0``) and ``CorrNet(input_clip=None)``. Beside the
correlations, ``max_input_sd``: the largest distance of a held-out input value
from its column's training mean, in training standard deviations (rare
pixels lie far out); and ``var_ratio``: the largest ratio, over components
and both views, of a component's held-out variance to its training variance.
A ratio well above 1 means a few held-out rows are thrown far off by the
network, which costs that component its held-out correlation.

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
MODELS = {"CorrNet()": {}, "CorrNet(input_clip=None)": {"input_clip": None}}


def max_input_sd(X, Xt):
    """Largest |held-out value - training mean| / training sd (varying columns)."""
    sd = X.std(axis=0, ddof=1)
    varying = sd > 0
    return float((np.abs(Xt - X.mean(axis=0))[:, varying] / sd[varying]).max())


def measure(seed, name, X, Xt, Y, Yt):
    """Figures of ``CorrNet(n_components=K, **MODELS[name])`` on one split."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CorrNet(n_components=K, random_state=seed, **MODELS[name]).fit(X, Y)
    train, held_out = model.transform(X, Y), model.transform(Xt, Yt)
    ratios = [t.var(axis=0) / np.maximum(z.var(axis=0), 1e-12)
              for z, t in zip(train, held_out)]  # fmt: skip
    corr = [float(np.corrcoef(held_out[0][:, j], held_out[1][:, j])[0, 1])
            for j in range(K)]  # fmt: skip
    return {
        "seed": seed,
        "model": name,
        "total_corr": total_correlation(*train, *held_out),
        "train": model.canonical_correlations_.tolist(),
        "held_out": corr,
        "weakest_held_out": min(corr),
        "var_ratio": float(np.max(ratios)),
        "max_input_sd": max(max_input_sd(X, Xt), max_input_sd(Y, Yt)),
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
        for name in MODELS:
            runs.append(measure(seed, name, X, Xt, Y, Yt))
            print(runs[-1], flush=True)
    runs.sort(key=lambda r: r["model"])
    table = [
        {**r, "train": " ".join(f"{c:.2f}" for c in r["train"]),
         "held_out": " ".join(f"{c:.2f}" for c in r["held_out"])}
        for r in runs
    ]  # fmt: skip
    means = ", ".join(
        f"{name} {np.mean([r['total_corr'] for r in runs if r['model'] == name]):.3f}"
        for name in MODELS
    )
    lines = [
        f"Digits halves, 70/30 split per seed, k={K}. Mean held-out total "
        f"correlation: {means}. Machine: {machine()}",
        "",
        *markdown_table(
            table,
            ["model", "seed", "total_corr", "weakest_held_out", "var_ratio",
             "max_input_sd", "n_iter", "train", "held_out"],
            {"total_corr": ".3f", "weakest_held_out": ".2f", "var_ratio": ".2f",
             "max_input_sd": ".1f", "seed": "d", "n_iter": "d"},
        ),  # fmt: skip
    ]
    save("components", {"machine": machine(), "runs": runs}, lines)


if __name__ == "__main__":
    main()
