"""Which epoch early stopping should keep: the best, or a later one within noise.

With early stopping, ``CorrNet`` scores each epoch on its held-out rows (10%
of the training rows) and, until the twentieth session, restored the weights
of its best-scoring epoch. On a
few hundred or thousand held-out rows the scores of neighbouring epochs
differ by less than their standard error, so the best of them is partly the
noise of those rows, and a later epoch within that noise has trained more.
This script asks whether keeping such a later epoch would do better. It
records, for each epoch of each fit, the held-out score early stopping sees,
its standard error, and the total correlation on a large test set it never
sees; then it replays the fit's own stopping rule
(``skcorrnet._training.History``, ``n_iter_no_change=10``, ``tol="auto"``) on
the recorded scores (the rule alone: where it stops, the fits go on at a lower
rate since the twenty-second session, which ``anneal.py`` measures by real
fits), and reports the test score of the epoch each rule keeps:

* ``best``: the best-scoring epoch (``CorrNet``'s rule until the twentieth
  session);
* ``last within 0.5 SE``: the last epoch scoring within half a standard
  error of the best (``CorrNet``'s rule since, ``_training.KEEP_ERRORS``);
* ``last within 1 SE``: the last epoch within one standard error;
* ``first within 1 SE``: the first such epoch (the classic
  one-standard-error rule, which prefers the least-trained model);

and, as references, the best test score of any epoch before the stop (an
oracle no rule can reach) and the epochs the fit ran. A start kept (no epoch
beat it by ``tol``) is kept under every rule.

Tasks, each with both starts (``init="cca"`` and ``init="random"``), 50
epochs recorded per fit:

* digits ``halves`` (k = 10) on the 1,257 training rows of a 70/30 split and
  on the first 300 of them; digits ``label`` (k = 9) and ``nonlinear``
  (k = 10), as in ``quality.py``, scored on the split's 540 test rows;
* ``linear, p cols, n rows``: 10 shared linear factors
  (``_common.factor_split``) in p = 16 and 64 columns on 600 rows and 200
  columns on 1,400 rows, 2,000 test rows, k = 10;
* ``speed.py``'s 2k rows (392 columns, 50 factors, k = 50), its 2,000 test
  rows.

Run: python benchmarks/kept_epoch.py [--seeds N] [--quick] (3 seeds: about
10 minutes on 2 cores; ``--quick``: 1 seed, the digits tasks). Writes
benchmarks/results/kept_epoch.{json,md}.
"""

import argparse
import warnings

import numpy as np
from sklearn.model_selection import train_test_split

import skcorrnet._corrnet
from _common import (
    digits_tasks,
    factor_split,
    latent_factor_views,
    machine,
    markdown_table,
    save,
    spectrum,
    summarise,
)
from skcorrnet import CorrNet
from skcorrnet._canonical import held_out_total_correlation
from skcorrnet._training import History

EPOCHS, PATIENCE, N_TEST = 50, 10, 2000
# name -> (errors from the best, the last such epoch or the first)
RULES = {
    "best": None,
    "last within 0.5 SE": (0.5, max),
    "last within 1 SE": (1.0, max),
    "first within 1 SE": (1.0, min),
}


def tasks(seeds, quick):
    """name -> (k, list of (seed, X, Xt, Y, Yt)), float32 views."""
    digits, out = digits_tasks(), {}
    for name, k, n in (("halves", 10, None), ("halves, 300 rows", 10, 300),
                       ("label", 9, None), ("nonlinear", 10, None)):  # fmt: skip
        X_all, Y_all, strata = digits[name.split(",")[0]]
        splits = [
            train_test_split(X_all, Y_all, test_size=0.3, random_state=s, stratify=strata)
            for s in seeds
        ]
        out[name] = (k, [(s, X[:n], Xt, Y[:n], Yt) for s, (X, Xt, Y, Yt) in zip(seeds, splits)])
    if not quick:
        for width, n in ((16, 600), (64, 600), (200, 1400)):
            out[f"linear, {width} cols, {n} rows"] = (
                10, [(s, *factor_split(n, N_TEST, width, s)) for s in seeds]
            )  # fmt: skip
        rho = spectrum(50)
        X, Y = latent_factor_views(2000, rho, rows_seed=2000)
        Xt, Yt = latent_factor_views(N_TEST, rho, rows_seed=10**6)
        out["speed.py, 2k rows"] = (50, [(s, X, Xt, Y, Yt) for s in seeds])
    return {
        name: (k, [tuple(np.asarray(a, dtype=np.float32) if i else a
                         for i, a in enumerate(split)) for split in splits])
        for name, (k, splits) in out.items()
    }  # fmt: skip


def record(k, init, seed, X, Xt, Y, Yt):
    """The (held-out score, its standard error, test score) of the start and
    of each of ``EPOCHS`` epochs of one fit.

    The fit's scorer is wrapped (a private function, patched for this
    measurement only) to score the same latents on the test rows too, by the
    same protocol: the CCA fitted on the scorer's training rows.
    """
    n = len(X)
    X_all, Y_all, test = np.vstack([X, Xt]), np.vstack([Y, Yt]), np.arange(n, n + len(Xt))
    curve = []

    def scorer(module, X_, Y_, stats, fit_rows, val_rows, ranks):
        score, error = held_out_total_correlation(module, X_, Y_, stats, fit_rows, val_rows, ranks)
        tested, _ = held_out_total_correlation(module, X_all, Y_all, stats, fit_rows, test, ranks)
        curve.append((score, error, tested))
        return score, error

    patched = skcorrnet._corrnet.held_out_total_correlation
    skcorrnet._corrnet.held_out_total_correlation = scorer
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # max_iter is reached on purpose
            CorrNet(k, init=init, early_stopping=True, n_iter_no_change=np.inf,
                    max_iter=EPOCHS, random_state=seed).fit(X, Y)  # fmt: skip
    finally:
        skcorrnet._corrnet.held_out_total_correlation = patched
    return curve


def replay(curve):
    """The test score of the epoch each rule keeps, the oracle's, and the
    epochs run, under the fit's stopping rule (tol="auto": each score's
    standard error; the start's margin too)."""
    history = History()
    history.start_validation()
    history.start_score(*curve[0][:2])
    best = 0  # index into curve: 0 is the start
    for i, (score, error, _) in enumerate(curve[1:], start=1):
        history.add_epoch({"loss": 0.0, **{t: 0.0 for t in history.loss_terms_}})
        if history.improved(score, error, error):
            best = i
        if history.exhausted(PATIENCE):
            break
    run = curve[: history.n_iter_ + 1]
    kept = {}
    for rule, within in RULES.items():
        kept[rule] = best
        if within is not None and best:  # a kept start stays under every rule
            errors, pick = within
            top = run[best][0]
            kept[rule] = pick(
                j for j in range(1, len(run)) if run[j][0] >= top - errors * run[j][1]
            )
    return {
        **{rule: run[j][2] for rule, j in kept.items()},
        "oracle": max(c[2] for c in run),
        "epochs": history.n_iter_,
    }


def gains(table):
    """Each rule's gain over ``best`` across the table's rows: mean, worst, best."""
    rows = []
    for rule in list(RULES)[1:]:
        diff = np.array([row[rule] - row["best"] for row in table])
        rows.append({"rule": rule, "mean gain": diff.mean(), "worst gain": diff.min(),
                     "best gain": diff.max()})  # fmt: skip
    return rows


def parse_splits(doc):
    """Parse ``--seeds`` and ``--quick`` (a script's ``doc`` describes it);
    return the arguments, the seeds and a list of each split of :func:`tasks`
    as (task, k, seed, X, Xt, Y, Yt)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 seed, digits tasks")
    args = parser.parse_args()
    seeds = range(1 if args.quick else args.seeds)
    splits = [
        (name, k, *split)
        for name, (k, task_splits) in tasks(seeds, args.quick).items()
        for split in task_splits
    ]
    return args, seeds, splits


def main():
    args, seeds, splits = parse_splits(__doc__)
    runs = []
    for name, k, seed, X, Xt, Y, Yt in splits:
        for init in ("cca", "random"):
            curve = record(k, init, seed, X, Xt, Y, Yt)
            runs.append({"task": name, "start": init, "seed": seed,
                         "curve": curve, **replay(curve)})  # fmt: skip
            print({k: v for k, v in runs[-1].items() if k != "curve"}, flush=True)
    figures = [*RULES, "oracle", "epochs"]
    table = summarise(runs, ("task", "start"), figures, sd_of="best")
    lines = [
        f"Test total correlation of the epoch each rule keeps, mean of {len(seeds)} "
        f"seed(s); replayed on recorded curves of {EPOCHS} epochs "
        f"(n_iter_no_change={PATIENCE}, tol='auto'). Machine: {machine()}",
        "",
        *markdown_table(table, ["task", "start", *figures], {"epochs": ".1f"}),
        "",
        *markdown_table(gains(table), ["rule", "mean gain", "worst gain", "best gain"]),
    ]
    save("kept_epoch", {"machine": machine(), "runs": runs, "summary": table},
         lines, args.quick)  # fmt: skip


if __name__ == "__main__":
    main()
