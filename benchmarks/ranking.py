"""Cross-modal retrieval with the ranking term: recall@K and median rank.

Tasks (scikit-learn's digits, a stratified 70/30 split per seed, k=10; 9 for
the label task, whose one-hot view has centred rank 9):

* ``halves``: a left half queries the 540 test right halves for its own
  (instance retrieval, im2recipe's protocol on a 540-candidate pool);
* ``label``: an image queries the 10 labels for its own (class retrieval).

Models: sklearn CCA for reference; CorrNet defaults (``ranking_weight=0``);
CorrNet with the softmax (InfoNCE) ranking term at several weights and
temperatures; with DeViSE's hinge rank loss; and softmax with
``canonical=False`` (retrieval on the raw latents). Held-out total correlation
and R^2 are reported alongside: the ranking term must not cost the rest.

Run: python benchmarks/ranking.py [--quick] [--seeds N]
Writes benchmarks/results/ranking.{json,md}.
"""

import argparse
import warnings

import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.model_selection import train_test_split

from _common import digits_tasks, label_ranks, machine, markdown_table, save, summarise
from skcorrnet import CorrNet
from skcorrnet.metrics import median_rank, recall_at_k, total_correlation

VARIANTS = {
    "CorrNet ranking_weight=0 (defaults)": {},
    "softmax, weight 1": {"ranking_weight": 1.0},
    "softmax, weight 4": {"ranking_weight": 4.0},
    "softmax, weight 10": {"ranking_weight": 10.0},
    "softmax, weight 10, temperature 0.05": {"ranking_weight": 10.0, "ranking_temperature": 0.05},
    "softmax, weight 10, temperature 0.2": {"ranking_weight": 10.0, "ranking_temperature": 0.2},
    "hinge, weight 10, margin 0.2": {"ranking_weight": 10.0, "ranking_loss": "hinge"},
    "softmax, weight 10, canonical=False": {"ranking_weight": 10.0, "canonical": False},
}
QUICK = ["CorrNet ranking_weight=0 (defaults)", "softmax, weight 10", "hinge, weight 10, margin 0.2"]
FIGURES = ["recall@1", "recall@5", "median_rank", "total_corr", "r2"]


def retrieval(model, task, Xt, Yt):
    if task == "label":
        ranks = label_ranks(model, Xt, Yt)
        return {"recall@1": np.mean(ranks <= 1), "recall@5": np.mean(ranks <= 5),
                "median_rank": float(np.median(ranks))}
    a, b = model.transform(Xt, Yt)
    return {"recall@1": recall_at_k(a, b, k=1), "recall@5": recall_at_k(a, b, k=5),
            "median_rank": median_rank(a, b)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 variants, 1 seed")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    seeds = list(range(1 if args.quick else args.seeds))
    variants = {name: VARIANTS[name] for name in QUICK} if args.quick else VARIANTS

    runs = []
    for task, (X_all, Y_all, strata) in digits_tasks().items():
        k = 9 if task == "label" else 10
        for seed in seeds:
            X, Xt, Y, Yt = train_test_split(
                X_all, Y_all, test_size=0.3, random_state=seed, stratify=strata
            )
            models = {"sklearn CCA": CCA(n_components=k, max_iter=1000)}
            for name, params in variants.items():
                models[name] = CorrNet(n_components=k, random_state=seed, **params)
            for name, model in models.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X, Y)
                row = {"task": task, "seed": seed, "model": name}
                row.update(retrieval(model, task, Xt, Yt))
                row["total_corr"] = total_correlation(*model.transform(X, Y), *model.transform(Xt, Yt))
                row["r2"] = model.score(Xt, Yt)
                runs.append(row)
                print(row, flush=True)

    summary = summarise(runs, ("task", "model"), FIGURES)
    lines = [
        f"Digits, held-out 30% (540 rows), mean over {len(seeds)} seed(s); halves: "
        "instance retrieval among 540 right halves; label: class retrieval among "
        f"10 labels. Machine: {machine()}",
        "",
        *markdown_table(summary, ["task", "model", *FIGURES], {"median_rank": ".1f"}),
    ]
    save("ranking", {"machine": machine(), "seeds": seeds, "runs": runs, "summary": summary},
         lines, quick=args.quick)


if __name__ == "__main__":
    main()
