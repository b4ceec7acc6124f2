"""Speed at MNIST-halves shape: CorrNet() against sklearn CCA, one fit each.

Data: :func:`_common.latent_factor_views`, p = q = 392 features per view and 50
latent factors with population canonical correlations evenly spaced from 0.95
to 0.2 (their sum, 28.75, is the best any k=50 *linear* model can reach; a
nonlinear one can exceed it, as squares and products of the Gaussian factors
are correlated across the views too, u_i u_j with v_i v_j at rho_i rho_j); n
training rows from 2k to 50k, 10k held-out rows. k = 50 components for every
model.

Competitors, each fitted once and timed:

* ``sklearn CCA``: ``CCA(n_components=50)`` (NIPALS);
* ``closed-form CCA``: skcorrnet's ridge CCA in numpy (eigh + SVD);
* ``CorrNet() defaults``: ``CorrNet(n_components=50)``, nothing else set;
* ``CorrNet linear``: ``hidden_layer_sizes=()``, the linear model this linear
  data calls for, other settings at their defaults;
* ``CorrNet() mirrored decoders``: the defaults with
  ``decoder_layer_sizes="mirror"``, decoders as deep as the encoders (the
  default before linear decoders);
* on the CPU, ``CorrNet() lr=1e-2``: the defaults with the former default
  rate, ``learning_rate_init=1e-2`` at every step, where ``"auto"`` lowers it
  beyond 50 steps an epoch (here an epoch takes up to 113 steps of
  ``batch_size="auto"``'s 400 rows, 352 at the former default of 128);
* on a GPU, ``CorrNet() batch_size=1024``: the defaults with fewer, larger
  steps (8 times fewer than batches of 128 rows, 2.5 than of 400; a GPU step
  of 128 rows is bound by kernel launches, not arithmetic).

Figures: held-out total correlation, fit seconds, and both as a fraction of
sklearn CCA's. Targets (issue "CorrNet() must be the best two-view
representation"): at n = 20k and 50k, the defaults fit in at most 0.10 of
CCA's time with at least 1.00 of its held-out total correlation.

Run: python benchmarks/speed.py [--quick] [--device cpu|cuda] [--n N [N ...]] [--seeds S]
Writes benchmarks/results/speed[-cuda][-Sseeds].{json,md,png}; with ``--seeds``
each CorrNet row is the mean of S fits (seeds 0..S-1) and its worst seed.
"""

import argparse
import time
import warnings

import numpy as np

from sklearn.cross_decomposition import CCA

from _common import latent_factor_views, machine, markdown_table, pyplot, save, spectrum
from skcorrnet import CorrNet
from skcorrnet._linear_cca import fit_linear_cca
from skcorrnet.metrics import total_correlation

K = 50
N_TEST = 10_000


def competitors(device):
    def corrnet(**params):
        return lambda seed: CorrNet(K, random_state=seed, device=device, **params)

    models = {
        "sklearn CCA": lambda: CCA(n_components=K),
        "closed-form CCA": None,
        "CorrNet() defaults": corrnet(),
        "CorrNet linear": corrnet(hidden_layer_sizes=()),
        "CorrNet() mirrored decoders": corrnet(decoder_layer_sizes="mirror"),
    }
    if device == "cpu":
        models["CorrNet() lr=1e-2"] = corrnet(learning_rate_init=1e-2)
    else:
        models["CorrNet() batch_size=1024"] = corrnet(batch_size=1024)
    return models


def measure(make, data, seed=None):
    """One timed fit (``make(seed)`` for a seeded model); its figures."""
    X, Y, Xt, Yt = data
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CCA's convergence notes
        if make is None:
            model = fit_linear_cca(X, Y, n_components=K)
        else:
            model = (make() if seed is None else make(seed)).fit(X, Y)
    fit_s = time.perf_counter() - start
    entry = {
        "fit_s": fit_s,
        "total_corr": total_correlation(*model.transform(X, Y), *model.transform(Xt, Yt)),
    }
    if isinstance(model, CorrNet):
        entry["epochs"] = model.n_iter_
    return entry


def measure_seeds(make, data, n_seeds):
    """A CorrNet's figures over seeds 0..n_seeds-1: means, and the worst seed's
    total correlation."""
    runs = [measure(make, data, seed) for seed in range(n_seeds)]
    corr = [r["total_corr"] for r in runs]
    return {
        "fit_s": float(np.mean([r["fit_s"] for r in runs])),
        "total_corr": float(np.mean(corr)),
        "worst_corr": min(corr),
        "epochs": " ".join(str(r["epochs"]) for r in runs),
    }


def measure_size(n, rho, held_out, device, n_seeds):
    """Every competitor's figures at ``n`` training rows; the table's rows."""
    X, Y = latent_factor_views(n, rho, rows_seed=n)
    data = (X, Y, *held_out)
    models = {
        name: measure_seeds(make, data, n_seeds) if name.startswith("CorrNet")
        else measure(make, data)
        for name, make in competitors(device).items()
    }  # fmt: skip
    cca = models["sklearn CCA"]
    rows = [
        {
            "n": str(n),
            "model": name,
            **entry,
            "worst_corr": entry.get("worst_corr", ""),
            "epochs": str(entry.get("epochs", "")),
            "time vs CCA": entry["fit_s"] / cca["fit_s"],
            "corr vs CCA": entry["total_corr"] / cca["total_corr"],
        }
        for name, entry in models.items()
    ]
    return models, rows


def plot(results, path, device):
    plt = pyplot()
    fig, (ax_t, ax_c) = plt.subplots(1, 2, figsize=(11, 4))
    ns = [r["n"] for r in results]
    for name in results[0]["models"]:
        ax_t.loglog(ns, [r["models"][name]["fit_s"] for r in results], "o-", label=name)
        ax_c.semilogx(ns, [r["models"][name]["total_corr"] for r in results], "o-", label=name)
    ax_t.set_xlabel("training rows n")
    ax_t.set_ylabel("fit seconds")
    ax_t.set_title(f"time (p=q=392, k={K}, {device})")
    ax_c.set_xlabel("training rows n")
    ax_c.set_ylabel("held-out total correlation")
    ax_c.set_title("quality")
    ax_t.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n=2k only")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--n", type=int, nargs="+", help="training rows (default 2k to 50k; --quick: 2k)"
    )
    parser.add_argument(
        "--seeds", type=int, default=1, help="CorrNet fits per model and size (seeds 0, 1, ...)"
    )
    args = parser.parse_args()
    ns = args.n or ([2000] if args.quick else [2000, 5000, 10_000, 20_000, 50_000])
    rho = spectrum(K)
    held_out = latent_factor_views(N_TEST, rho, rows_seed=10**6)

    results, table = [], []
    for n in ns:
        models, rows = measure_size(n, rho, held_out, args.device, args.seeds)
        results.append({"n": n, "models": models})
        table += rows
        print(results[-1], flush=True)

    columns = ["n", "model", "total_corr", "fit_s", "epochs", "time vs CCA", "corr vs CCA"]
    fits = "one timed fit per model"
    if args.seeds > 1:
        columns.insert(3, "worst_corr")
        fits = f"CorrNet: mean of seeds 0-{args.seeds - 1} (worst_corr: the worst seed's)"
    lines = [
        f"Synthetic p=q=392, k={K}, linear population total correlation "
        f"{rho.sum():.2f} (nonlinear maps can exceed it: products of factors "
        "correlate too), "
        f"{N_TEST} held-out rows; {fits}.",
        f"Machine: {machine(args.device)}",
        "",
        *markdown_table(table, columns, {"fit_s": ".2f"}),
    ]
    suffix = "" if args.device == "cpu" else f"-{args.device.split(':')[0]}"
    if args.seeds > 1:
        suffix += f"-{args.seeds}seeds"
    stem = save(
        f"speed{suffix}",
        {"machine": machine(args.device), "k": K, "population": rho.sum(), "results": results},
        lines,
        quick=args.quick,
    )
    plot(results, stem.with_suffix(".png"), args.device)


if __name__ == "__main__":
    main()
