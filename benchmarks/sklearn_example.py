"""scikit-learn's compare-cross-decomposition example, CCA section, component by component.

The example's data: two latent factors, each copied into two columns of X and of
Y, plus unit noise; 500 rows, the first 250 to train and the last 250 held out.
Drawn 10 times (seeds 0-9). For each model, the held-out correlation of
component j of X with component j of Y, as the example prints it, averaged
over the draws; with the worst draw.

Run: python benchmarks/sklearn_example.py
Writes benchmarks/results/sklearn_example.{json,md}.
"""

import warnings

import numpy as np
from sklearn.cross_decomposition import CCA

from _common import RidgeCCA, machine, markdown_table, save, two_factor_views
from skcorrnet import CorrNet

N_DRAWS = 10


def draw(seed, n=500):
    """The example's data drawn with ``seed``: first half to train, second held out."""
    X, Y = two_factor_views(n, seed)
    half = n // 2
    return X[:half], X[half:], Y[:half], Y[half:]


def component_correlations(model, X, Xt, Y, Yt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y)
    a, b = model.transform(Xt, Yt)
    return [float(np.corrcoef(a[:, j], b[:, j])[0, 1]) for j in range(2)]


def main():
    runs = []
    for seed in range(N_DRAWS):
        X, Xt, Y, Yt = draw(seed)
        models = {
            "sklearn CCA": CCA(n_components=2),
            "ridge CCA (CV)": RidgeCCA(2, random_state=seed),
            "CorrNet()": CorrNet(n_components=2, random_state=seed),
        }
        for name, model in models.items():
            first, second = component_correlations(model, X, Xt, Y, Yt)
            runs.append({"seed": seed, "model": name, "component 0": first,
                         "component 1": second})  # fmt: skip
            print(runs[-1], flush=True)
    summary = []
    for name in dict.fromkeys(r["model"] for r in runs):
        group = [r for r in runs if r["model"] == name]
        row = {"model": name}
        for key in ("component 0", "component 1"):
            row[key] = float(np.mean([r[key] for r in group]))
            row[f"{key}, worst draw"] = float(min(r[key] for r in group))
        summary.append(row)
    columns = ["model", "component 0", "component 1", "component 0, worst draw",
               "component 1, worst draw"]  # fmt: skip
    lines = [
        f"scikit-learn's compare-cross-decomposition data, 250 training and 250 "
        f"held-out rows, {N_DRAWS} draws: held-out correlation of each component "
        f"pair, mean and worst draw. Machine: {machine()}",
        "",
        *markdown_table(summary, columns),
    ]
    save("sklearn_example", {"machine": machine(), "runs": runs, "summary": summary},
         lines)  # fmt: skip


if __name__ == "__main__":
    main()
