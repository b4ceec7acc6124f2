"""Speed at MNIST-halves shape: time to reach sklearn CCA's held-out correlation.

Data: :func:`_common.latent_factor_views`, p = q = 392 features per view and 50
latent factors with population canonical correlations evenly spaced from 0.95
to 0.2 (their sum, 28.75, is the best any k=50 model can reach); n training
rows from 2k to 50k, 10k held-out rows. k = 50 components for every model.

Competitors:

* ``sklearn CCA``: ``CCA(n_components=50)`` (NIPALS), timed fit;
* ``closed-form CCA``: skcorrnet's ridge CCA in numpy (eigh + SVD), timed fit;
* ``CorrNet defaults``: ``CorrNet(n_components=50)``;
* ``CorrNet linear``: ``hidden_layer_sizes=(), activation="identity",
  learning_rate_init=1e-2``, the linear model this linear data calls for.

CorrNet is trained one epoch per call (``warm_start=True, max_iter=1``), and its
held-out total correlation is measured after each epoch (the measurement is not
timed; the per-call canonical refit is, so CorrNet's times are conservative).
From that curve: the time to first reach 90/95/99/100% of sklearn CCA's
held-out total correlation. Target: 100% within 1/10 of CCA's time at n=20k.

Run: python benchmarks/speed.py [--quick] [--device cpu|cuda] [--epochs N]
Writes benchmarks/results/speed[-cuda].{json,md,png}.
"""

import argparse
import time
import warnings

from sklearn.cross_decomposition import CCA

from _common import latent_factor_views, machine, markdown_table, pyplot, save, spectrum
from skcorrnet import CorrNet
from skcorrnet._linear_cca import fit_linear_cca
from skcorrnet.metrics import total_correlation

K = 50
N_TEST = 10_000
LEVELS = (0.90, 0.95, 0.99, 1.00)
CORRNETS = {
    "CorrNet defaults": {},
    "CorrNet linear": {
        "hidden_layer_sizes": (),
        "activation": "identity",
        "learning_rate_init": 1e-2,
    },
}


def timed(fn):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes
        out = fn()
    return out, time.perf_counter() - start


def corrnet_curve(params, data, device, epochs, time_cap):
    """(cumulative fit seconds, held-out total correlation) after each epoch."""
    X, Y, Xt, Yt = data
    model = CorrNet(
        n_components=K, warm_start=True, max_iter=1, random_state=0, device=device, **params
    )
    curve, elapsed = [], 0.0
    for _ in range(epochs):
        elapsed += timed(lambda: model.fit(X, Y))[1]
        curve.append((elapsed, total_correlation(*model.transform(X, Y), *model.transform(Xt, Yt))))
        if elapsed > time_cap:
            break
    return curve


def time_to(curve, target):
    """Seconds until the curve first reaches ``target``; None if it never does."""
    return next((t for t, score in curve if score >= target), None)


def plot(results, curves_n, path, device):
    plt = pyplot()
    fig, (ax_t, ax_c) = plt.subplots(1, 2, figsize=(11, 4))
    ns = [r["n"] for r in results]
    ax_t.loglog(ns, [r["sklearn CCA"]["fit_s"] for r in results], "o-", label="sklearn CCA fit")
    ax_t.loglog(ns, [r["closed-form CCA"]["fit_s"] for r in results], "s-", label="closed-form CCA fit")
    for name in CORRNETS:
        for level, style in ((0.95, "^--"), (1.00, "v-")):
            pts = [(r["n"], r[name][f"t{level:.0%}"]) for r in results if r[name][f"t{level:.0%}"]]
            if pts:
                ax_t.loglog(*zip(*pts), style, label=f"{name}: {level:.0%} of CCA")
    ax_t.set_xlabel("training rows n")
    ax_t.set_ylabel("seconds")
    ax_t.set_title(f"time (p=q=392, k={K}, {device})")
    ax_t.legend(fontsize=7)

    at_n = next(r for r in results if r["n"] == curves_n)
    cca = at_n["sklearn CCA"]
    ax_c.axhline(cca["total_corr"], color="gray", ls=":", label="sklearn CCA")
    ax_c.plot([cca["fit_s"]], [cca["total_corr"]], "o", color="gray")
    ax_c.axvline(cca["fit_s"] / 10, color="red", ls=":", label="1/10 of CCA's time")
    for name in CORRNETS:
        t, s = zip(*at_n[name]["curve"])
        ax_c.plot(t, s, ".-", label=name)
    ax_c.set_xscale("log")
    ax_c.set_xlabel("seconds")
    ax_c.set_ylabel("held-out total correlation")
    ax_c.set_title(f"n={curves_n}: correlation vs training time")
    ax_c.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=2k only, 10 epochs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    ns = [2000] if args.quick else [2000, 5000, 10_000, 20_000, 50_000]
    epochs = 10 if args.quick else args.epochs
    rho = spectrum(K)
    Xt, Yt = latent_factor_views(N_TEST, rho, rows_seed=10**6)

    results = []
    for n in ns:
        X, Y = latent_factor_views(n, rho, rows_seed=n)
        row = {"n": n}
        cca, fit_s = timed(lambda: CCA(n_components=K).fit(X, Y))
        row["sklearn CCA"] = {
            "fit_s": fit_s,
            "total_corr": total_correlation(*cca.transform(X, Y), *cca.transform(Xt, Yt)),
        }
        closed, fit_s = timed(lambda: fit_linear_cca(X, Y, n_components=K))
        row["closed-form CCA"] = {
            "fit_s": fit_s,
            "total_corr": total_correlation(*closed.transform(X, Y), *closed.transform(Xt, Yt)),
        }
        reference = row["sklearn CCA"]["total_corr"]
        for name, params in CORRNETS.items():
            curve = corrnet_curve(
                params, (X, Y, Xt, Yt), args.device, epochs, row["sklearn CCA"]["fit_s"]
            )
            entry = {"curve": curve, "best": max(s for _, s in curve), "epochs": len(curve)}
            for level in LEVELS:
                entry[f"t{level:.0%}"] = time_to(curve, level * reference)
            row[name] = entry
        results.append(row)
        print({k: (v if k == "n" else {a: b for a, b in v.items() if a != "curve"}) for k, v in row.items()}, flush=True)

    table = []
    for row in results:
        cca_s = row["sklearn CCA"]["fit_s"]
        for name in ("sklearn CCA", "closed-form CCA"):
            table.append({"n": str(row["n"]), "model": name, **row[name]})
        for name in CORRNETS:
            entry = row[name]
            cells = {"n": str(row["n"]), "model": name, "total_corr": entry["best"]}
            for level in LEVELS:
                t = entry[f"t{level:.0%}"]
                cells[f"s to {level:.0%}"] = "never" if t is None else f"{t:.1f} ({t / cca_s:.2f}x)"
            table.append(cells)
    columns = ["n", "model", "total_corr", "fit_s", *(f"s to {lv:.0%}" for lv in LEVELS)]
    lines = [
        f"Synthetic p=q=392, k={K}, population total correlation {rho.sum():.2f}, "
        f"{N_TEST} held-out rows. CorrNet: best held-out total correlation within "
        f"{epochs} epochs (or CCA's fit time), and seconds (fraction of sklearn CCA's "
        "fit time) to first reach that share of sklearn CCA's held-out total correlation.",
        f"Machine: {machine(args.device)}",
        "",
        *markdown_table(table, columns, {"fit_s": ".2f"}),
    ]
    suffix = "" if args.device == "cpu" else f"-{args.device.split(':')[0]}"
    stem = save(
        f"speed{suffix}",
        {"machine": machine(args.device), "k": K, "population": rho.sum(), "results": results},
        lines,
        quick=args.quick,
    )
    plot(results, 20_000 if 20_000 in ns else ns[-1], stem.with_suffix(".png"), args.device)


if __name__ == "__main__":
    main()
