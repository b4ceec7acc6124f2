"""What early stopping should do when its patience runs out: stop, or go back
to the kept weights and train on at a lower learning rate.

With early stopping, ``CorrNet`` stops after ``n_iter_no_change`` epochs
without a gain of ``tol`` on its held-out score (or once the score falls) and
keeps the weights of its best epoch (or the last within half a standard error
of it). The full-rate steps that reached those weights jump around the
optimum they approach; smaller steps from the kept weights may settle nearer
it. This script fits ``CorrNet()`` (its defaults: the race of starts, the
auto rate, batch and tol) under each rule, by real fits, and scores each on
a test set it never sees:

* ``stop``: stop there (``CorrNet``'s rule until the twenty-second session;
  ``skcorrnet._training.ANNEAL_RATE = None``);
* ``anneal x r``: go back to the kept weights and train on at r times the
  learning rate while each epoch beats the best score, stopping at the first
  that does not (``ANNEAL_RATE = r``; ``CorrNet``'s rule since, at r = 0.2,
  MLPRegressor's ``learning_rate="adaptive"`` divisor of 5).

Tasks (those of ``kept_epoch.py``): digits ``halves`` (k = 10) on the 1,257
training rows of a 70/30 split and on the first 300 of them; digits
``label`` (k = 9) and ``nonlinear`` (k = 10), as in ``quality.py``, scored on
the split's 540 test rows; ``linear, p cols, n rows``: 10 shared linear
factors in p = 16 and 64 columns on 600 rows and 200 columns on 1,400 rows,
2,000 test rows, k = 10; ``speed.py``'s 2k rows (392 columns, 50 factors,
k = 50), its 2,000 test rows.

Figures: test total canonical correlation (the metrics module's protocol),
mean over the seeds with the sd and the worst seed, epochs, fit seconds and
warnings raised (a fit reaching ``max_iter`` warns);
then each rule's gain over ``stop`` across tasks and seeds (mean, worst,
best).

Run: python benchmarks/anneal.py [--seeds N] [--quick] (3 seeds: about 15
minutes on 2 cores; ``--quick``: 1 seed, the digits tasks). Writes
benchmarks/results/anneal.{json,md}.
"""

import time
import warnings

import numpy as np
from kept_epoch import parse_splits

import skcorrnet._training
from _common import machine, markdown_table, save, summarise
from skcorrnet import CorrNet
from skcorrnet.metrics import total_correlation

# rule -> ANNEAL_RATE
RULES = {"stop": None, "anneal x 0.5": 0.5, "anneal x 0.2": 0.2, "anneal x 0.1": 0.1}


def fit_and_score(k, seed, rate, X, Xt, Y, Yt):
    """Fit ``CorrNet(k)`` under ``ANNEAL_RATE = rate``; its test score,
    epochs and seconds."""
    kept = skcorrnet._training.ANNEAL_RATE
    skcorrnet._training.ANNEAL_RATE = rate
    try:
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = CorrNet(k, random_state=seed).fit(X, Y)
        fit_s = time.perf_counter() - start
    finally:
        skcorrnet._training.ANNEAL_RATE = kept
    a, b = model.transform(X, Y)
    at, bt = model.transform(Xt, Yt)
    return {"total_corr": total_correlation(a, b, at, bt), "epochs": model.n_iter_,
            "fit_s": fit_s, "warnings": len(caught)}  # fmt: skip


def gains(runs):
    """Each rule's gain over ``stop`` on the same task and seed: mean, worst, best."""
    base = {(r["task"], r["seed"]): r["total_corr"] for r in runs if r["rule"] == "stop"}
    rows = []
    for rule in list(RULES)[1:]:
        diff = np.array([r["total_corr"] - base[r["task"], r["seed"]]
                         for r in runs if r["rule"] == rule])  # fmt: skip
        rows.append({"rule": rule, "mean gain": diff.mean(), "worst gain": diff.min(),
                     "best gain": diff.max(), "share not below": np.mean(diff >= 0)})  # fmt: skip
    return rows


def main():
    args, seeds, splits = parse_splits(__doc__)
    runs = []
    for name, k, seed, X, Xt, Y, Yt in splits:
        for rule, rate in RULES.items():
            runs.append({"task": name, "rule": rule, "seed": seed,
                         **fit_and_score(k, seed, rate, X, Xt, Y, Yt)})  # fmt: skip
            print(runs[-1], flush=True)
    table = summarise(runs, ("task", "rule"), ["total_corr", "epochs", "fit_s", "warnings"])
    for row in table:
        row["worst_corr"] = min(r["total_corr"] for r in runs
                                if (r["task"], r["rule"]) == (row["task"], row["rule"]))  # fmt: skip
    columns = ["task", "rule", "total_corr", "total_corr_sd", "worst_corr", "epochs",
               "fit_s", "warnings"]  # fmt: skip
    lines = [
        f"Test total correlation of CorrNet() under each rule, mean of {len(seeds)} "
        f"seed(s) (sd, worst seed), epochs and fit seconds. Machine: {machine()}",
        "",
        *markdown_table(table, columns, {"epochs": ".1f", "fit_s": ".2f", "warnings": ".1f"}),
        "",
        *markdown_table(gains(runs), ["rule", "mean gain", "worst gain", "best gain",
                                      "share not below"]),  # fmt: skip
    ]
    save("anneal", {"machine": machine(), "runs": runs, "summary": table}, lines,
         args.quick)  # fmt: skip


if __name__ == "__main__":
    main()
