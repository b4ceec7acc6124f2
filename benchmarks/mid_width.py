"""Views of a few hundred to a thousand columns on a few thousand rows: where
the linear start holds CorrNet() back.

The shape of many multi-view feature sets (a few thousand rows, each view
some hundreds of columns). Two views share 10 linear factors (population
canonical correlations 0.9 to 0.3, ``_common.latent_factor_views``: isotropic
noise around a low-rank signal); 2,000 held-out rows, k = 10, on two shapes:

* 200 ↔ 200 columns, 1,400 training rows (the held-out 10% that early
  stopping scores on is 140 rows);
* 1,000 ↔ 1,000 columns, 5,000 training rows.

A nonlinear model can exceed the linear population total (6.00): products
and squares of the strong factors are correlated across the views too.
Models, side by side in one run:

* ``sklearn CCA`` (NIPALS) and ``ridge CCA (CV)``, the closed-form ridge CCA
  of the standardised views, its ridge chosen as CorrNet's start chooses it;
* cca-zoo's DCCA, with CorrNet's default encoders and batch, the peers' learning rate
  (``_deep_peers.PEER_RATE``) and
  100-epoch budget (``_deep_peers.py``; ``--no-deep`` leaves it out);
* ``CorrNet()``;
* ``CorrNet(init="random")``: the same network from random weights;
* ``CorrNet(init="random", early_stopping=False)``: and without the
  held-out rows' stopping rule, so that the two rows above separate what the
  start and what early stopping cost.

Figures: held-out total canonical correlation (the metrics module's protocol)
and fit seconds: the mean over the seeds, the sd and the worst seed.

Run: python benchmarks/mid_width.py [--seeds N] [--quick] [--no-deep] (2 seeds:
about 7 minutes on 2 cores; ``--quick``: the narrower shape, 1 seed).
Writes benchmarks/results/mid_width.{json,md}.
"""

import argparse
import logging

from _common import (
    TEN_FACTORS,
    factor_split,
    machine,
    markdown_table,
    save,
    summarise,
)
from skcorrnet import CorrNet
from wide_views import K, peers, run

N_TEST = 2000
# (name, columns per view, training rows)
SHAPES = (("200 ↔ 200, 1,400 rows", 200, 1400), ("1,000 ↔ 1,000, 5,000 rows", 1000, 5000))


def competitors(seed, deep):
    models = peers(seed, deep, "ridge CCA (CV)")
    models["CorrNet()"] = lambda: CorrNet(K, random_state=seed)
    models['CorrNet(init="random")'] = lambda: CorrNet(
        K, init="random", random_state=seed
    )
    models['CorrNet(init="random", early_stopping=False)'] = lambda: CorrNet(
        K, init="random", early_stopping=False, random_state=seed
    )
    return models


def main():
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="the narrower shape, 1 seed")
    parser.add_argument("--no-deep", action="store_true", help="without cca-zoo")
    args = parser.parse_args()
    shapes, seeds = (SHAPES[:1], 1) if args.quick else (SHAPES, args.seeds)
    runs = []
    for shape, width, n_train in shapes:
        for seed in range(seeds):
            split = factor_split(n_train, N_TEST, width, seed)
            for name, make in competitors(seed, not args.no_deep).items():
                runs.append({"shape": shape, "model": name, "seed": seed,
                             **run(make, *split)})  # fmt: skip
                print(runs[-1], flush=True)
    table = summarise(runs, ("shape", "model"), ["total_corr", "fit_s"])
    for row in table:
        row["worst_corr"] = min(
            r["total_corr"] for r in runs
            if (r["shape"], r["model"]) == (row["shape"], row["model"])
        )  # fmt: skip
    lines = [
        f"10 linear factors (population total {TEN_FACTORS.sum():.2f}), "
        f"{N_TEST} held-out rows, "
        f"k={K}; mean of {seeds} seeds (sd of total_corr). Machine: {machine()}",
        "",
        *markdown_table(table, ["shape", "model", "total_corr", "total_corr_sd",
                                "worst_corr", "fit_s"], {"fit_s": ".1f"}),
    ]  # fmt: skip
    save("mid_width", {"machine": machine(), "runs": runs}, lines, quick=args.quick)


if __name__ == "__main__":
    main()
