"""Cross-modal retrieval: CorrNet's ranking term against a CLIP-style model and CCAs.

Tasks (k=10; 9 for the label task, whose one-hot view has centred rank 9):

* ``halves``: scikit-learn's digits, a stratified 70/30 split per seed; a left
  half looks for its own right half among the 540 held-out right halves, and
  the other way round (im2recipe's protocol on a 540-candidate pool);
* ``label``: the same splits; an image looks for its label among the 10
  labels: recall@1 is the accuracy of the retrieved label (DeViSE's use);
* ``linear-1k``: two 64-column views with 10 linearly shared factors
  (population canonical correlations 0.9 to 0.3), 5,000 training pairs and a
  pool of 1,000 held-out pairs, im2recipe's 1k pool.

Models, side by side in one run: sklearn CCA; the closed-form ridge CCA, its
ridge chosen by 3-fold CV; cca-zoo's Deep CCA, its outputs rotated to canonical variates as CorrNet's
are (``--no-deep`` leaves it out); a
CLIP-style two-tower model (``_two_tower.py``, symmetric InfoNCE with a learned
temperature); ``CorrNet()``; ``CorrNet(early_stopping=False)``, which trains
on every row until the training loss settles (what early stopping guards
against); ``CorrNet(ranking_weight=1)``. The deep models
share CorrNet's default widths, epochs and batch, at a learning rate of 1e-2
(``_deep_peers.PEER_RATE``).
Retrieval uses the cosine of what ``transform`` returns, ties counted against
the true partner (``skcorrnet.metrics``). Held-out total correlation and fit
seconds are reported alongside; recall@1 with its sd and its worst seed.

Run: python benchmarks/ranking.py [--quick] [--seeds N] [--no-deep]
Writes benchmarks/results/ranking.{json,md,png}.
"""

import argparse
import logging
import time
import warnings

import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.model_selection import train_test_split

from _common import (
    RidgeCCA,
    digits_tasks,
    factor_split,
    label_ranks,
    machine,
    markdown_table,
    pyplot,
    save,
    summarise,
)
from _deep_peers import DeepPeer
from _two_tower import TwoTower
from skcorrnet import CorrNet
from skcorrnet._linear_cca import fit_linear_cca
from skcorrnet.metrics import median_rank, recall_at_k, total_correlation

FIGURES = ["recall@1", "recall@5", "recall@10", "median_rank", "y→x recall@1",
           "y→x median_rank", "total_corr", "fit_s"]  # fmt: skip
CURVE_KS = [1, 2, 5, 10, 20, 50]


class Canonical:
    """A model whose outputs are rotated to their canonical variates.

    Deep CCA's outputs are defined only up to an invertible linear map (its
    objective does not see one), so raw cosines between them mean little: as
    ``CorrNet(canonical=True)`` does, a linear CCA fitted on the training
    outputs centres, whitens and orders them.
    """

    def __init__(self, model):
        self.model = model

    def fit(self, X, Y):
        a, b = self.model.fit(X, Y).transform(X, Y)
        self.cca_ = fit_linear_cca(a, b, a.shape[1])
        return self

    def transform(self, X, Y):
        return self.cca_.transform(*self.model.transform(X, Y))


def competitors(k, seed, deep):
    models = {
        "sklearn CCA": CCA(n_components=k, max_iter=1000),
        "ridge CCA (CV)": RidgeCCA(k, random_state=seed),
    }
    if deep:
        models["cca-zoo DCCA"] = Canonical(DeepPeer("DCCA", k, seed=seed))
    models["CLIP-style two-tower"] = TwoTower(k, seed=seed)
    models["CorrNet()"] = CorrNet(n_components=k, random_state=seed)
    models["CorrNet(early_stopping=False)"] = CorrNet(
        n_components=k, early_stopping=False, random_state=seed
    )
    models["CorrNet(ranking_weight=1)"] = CorrNet(
        n_components=k, ranking_weight=1.0, random_state=seed
    )
    return models


def retrieval(model, task, Xt, Yt):
    """Recall@K and median rank, both directions (one for the label task)."""
    if task == "label":
        ranks = label_ranks(model, Xt, Yt)
        figures = {f"recall@{k}": np.mean(ranks <= k) for k in (1, 5, 10)}
        return {**figures, "median_rank": float(np.median(ranks))}
    a, b = model.transform(Xt, Yt)
    figures = {f"recall@{k}": recall_at_k(a, b, k=k) for k in (1, 5, 10)}
    figures["median_rank"] = median_rank(a, b)
    figures["y→x recall@1"] = recall_at_k(b, a, k=1)
    figures["y→x median_rank"] = median_rank(b, a)
    figures["curve"] = [recall_at_k(a, b, k=k) for k in CURVE_KS]
    return figures


def tasks(quick, seeds):
    """name -> (k, list of (seed, X, Xt, Y, Yt))."""
    out = {}
    digits = digits_tasks()
    for task in ("halves", "label"):
        X_all, Y_all, strata = digits[task]
        splits = []
        for seed in seeds:
            X, Xt, Y, Yt = train_test_split(
                X_all, Y_all, test_size=0.3, random_state=seed, stratify=strata
            )
            splits.append((seed, X, Xt, Y, Yt))
        out[task] = (9 if task == "label" else 10, splits)
    if not quick:
        out["linear-1k"] = (
            10, [(seed, *factor_split(5000, 1000, 64, seed)) for seed in seeds[:3]]
        )
    return out


def run(model, task, X, Xt, Y, Yt):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CCA's and Lightning's notes
        model.fit(X, Y)
    row = {"fit_s": time.perf_counter() - start}
    row.update(retrieval(model, task, Xt, Yt))
    row["total_corr"] = total_correlation(*model.transform(X, Y), *model.transform(Xt, Yt))
    return row


def plot(runs, path):
    """Recall@K curves of the halves task, mean over seeds, one line per model."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    halves = [r for r in runs if r["task"] == "halves"]
    for name in dict.fromkeys(r["model"] for r in halves):
        curve = np.mean([r["curve"] for r in halves if r["model"] == name], axis=0)
        ax.plot(CURVE_KS, curve, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("K (of 540 candidates)")
    ax.set_ylabel("recall@K, left half → right half")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits, 1 seed")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-deep", action="store_true", help="without cca-zoo")
    args = parser.parse_args()
    seeds = list(range(1 if args.quick else args.seeds))
    runs = []
    for task, (k, splits) in tasks(args.quick, seeds).items():
        for seed, X, Xt, Y, Yt in splits:
            for name, model in competitors(k, seed, not args.no_deep).items():
                row = {"task": task, "seed": seed, "model": name}
                row.update(run(model, task, X, Xt, Y, Yt))
                runs.append(row)
                print({key: v for key, v in row.items() if key != "curve"}, flush=True)
    for row in runs:  # the label task has one direction
        row.setdefault("y→x recall@1", float("nan"))
        row.setdefault("y→x median_rank", float("nan"))
    summary = summarise(runs, ("task", "model"), FIGURES, sd_of="recall@1")
    for row in summary:
        row["worst recall@1"] = min(
            r["recall@1"] for r in runs
            if (r["task"], r["model"]) == (row["task"], row["model"])
        )  # fmt: skip
    table = [{**r, "recall@1": f"{r['recall@1']:.3f} ± {r['recall@1_sd']:.3f}"}
             for r in summary]  # fmt: skip
    lines = [
        f"Held-out pairs, mean over seeds ({len(seeds)} on digits, "
        f"{min(len(seeds), 3)} on linear-1k). Retrieval by cosine in each "
        f"model's transform space; x→y unless marked. Machine: {machine()}",
        "",
        *markdown_table(table, ["task", "model", "recall@1", "worst recall@1",
                                *FIGURES[1:]],
                        {"median_rank": ".1f", "y→x median_rank": ".1f", "fit_s": ".1f"}),
    ]  # fmt: skip
    stem = save(
        "ranking",
        {"machine": machine(), "seeds": seeds, "runs": runs, "summary": summary},
        lines,
        quick=args.quick,
    )
    plot(runs, stem.with_suffix(".png"))


if __name__ == "__main__":
    main()
