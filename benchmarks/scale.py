"""Scale: fit time and peak memory up to 1M rows, each fit in a memory-capped child.

Data: :func:`_common.latent_factor_views` at p = q = 392 (float32, as a user
would store MNIST-halves-sized features), k = 50 components, n from 10k to 1M
rows (1M rows are 3.1 GB of data). Every (method, n) runs in a fresh child
process whose address space is capped with ``resource.setrlimit(RLIMIT_AS)``
(8 GiB by default: a laptop-sized machine), so an out-of-memory failure is
observed, not extrapolated, and a wall-clock timeout bounds each fit.

Methods: ``sklearn CCA`` (``CCA(n_components=50)``), ``closed-form CCA``
(skcorrnet's numpy ridge CCA, the fastest exact linear CCA), and ``CorrNet``
with its defaults but ``max_iter=1``: one epoch, so the figure is the cost of
an epoch plus the passes for scaling statistics and the canonical rotation.

Figures per child: status (ok / MemoryError / timeout), fit seconds, peak
resident memory of the process (``ru_maxrss``) and how much of it is beyond
the data itself, and held-out total correlation on 10k fresh rows.

Run: python benchmarks/scale.py [--quick] [--cap-gib G] [--timeout S] [--device D]
(``--render`` redoes the table and plot from the saved JSON.)
Writes benchmarks/results/scale[-cuda].{json,md,png}.
"""

import argparse
import json
import resource
import subprocess
import time
import warnings

from _common import (
    RESULTS,
    latent_factor_views,
    machine,
    markdown_table,
    pyplot,
    run_child,
    save,
    spectrum,
    status_mib,
)

K = 50
N_TEST = 10_000
METHODS = ("sklearn CCA", "closed-form CCA", "CorrNet")


def child(method, n, cap_gib, device):
    """Fit one method on n rows under the memory cap; print one JSON line."""
    cap = int(cap_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    result = {"method": method, "n": n}
    try:
        rho = spectrum(K)
        X, Y = latent_factor_views(n, rho, rows_seed=n)
        result["data_mib"] = (X.nbytes + Y.nbytes) / 2**20
        result["rss_before_fit_mib"] = status_mib("VmRSS")
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence notes
            if method == "sklearn CCA":
                from sklearn.cross_decomposition import CCA

                model = CCA(n_components=K).fit(X, Y)
                embed = model.transform
            elif method == "closed-form CCA":
                from skcorrnet._linear_cca import fit_linear_cca

                model = fit_linear_cca(X, Y, n_components=K)
                embed = model.transform
            else:
                from skcorrnet import CorrNet

                model = CorrNet(K, max_iter=1, random_state=0, device=device).fit(X, Y)
                embed = model.transform
        result["fit_s"] = time.perf_counter() - start
        result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        from skcorrnet.metrics import total_correlation

        Xt, Yt = latent_factor_views(N_TEST, rho, rows_seed=10**6)
        sample = slice(0, min(n, 50_000))  # the linear map of the metric, fitted on a sample
        result["total_corr"] = total_correlation(
            *embed(X[sample], Y[sample]), *embed(Xt, Yt)
        )
        result["status"] = "ok"
    except MemoryError as exc:
        result.update(status="MemoryError", error=str(exc)[:200])
    except RuntimeError as exc:  # torch reports a failed allocation as RuntimeError
        if "alloc" not in str(exc).lower():
            raise
        result.update(status="MemoryError", error=str(exc)[:200])
    print(json.dumps(result))


def measure(method, n, args):
    """One method at n rows, in a fresh process: its result, or why it failed."""
    arguments = ["--child", method, n, "--cap-gib", args.cap_gib, "--device", args.device]
    start = time.perf_counter()
    try:
        result = run_child(__file__, arguments, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"method": method, "n": n, "status": f"timeout (>{args.timeout:.0f} s)"}
    except RuntimeError as exc:
        # Killed by the kernel or failed outside Python's MemoryError: report it.
        status = f"exit {exc.returncode}: {exc.last_line[:120]}"
        return {"method": method, "n": n, "status": status}
    result["wall_s"] = time.perf_counter() - start
    return result


def plot(results, path, cap_gib, device):
    plt = pyplot()
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4))
    for method, marker in zip(METHODS, "osv"):
        ok = [r for r in results if r["method"] == method and r["status"] == "ok"]
        failed = [r for r in results if r["method"] == method and r["status"] != "ok"]
        line = ax_t.loglog([r["n"] for r in ok], [r["fit_s"] for r in ok], marker + "-", label=method)
        ax_m.loglog([r["n"] for r in ok], [r["peak_rss_mib"] for r in ok], marker + "-", label=method)
        for r in failed:
            label = "OOM" if r["status"] == "MemoryError" else "timeout"
            for ax in (ax_t, ax_m):
                ax.axvline(r["n"], color=line[0].get_color(), ls=":", alpha=0.6)
            ax_t.text(r["n"], 0.97, f"{method}: {label} ", transform=ax_t.get_xaxis_transform(),
                      fontsize=7, rotation=90, va="top", ha="right", color=line[0].get_color())
    data = sorted({(r["n"], r["data_mib"]) for r in results if "data_mib" in r})
    ax_m.loglog(*zip(*data), "k--", label="the data itself")
    ax_m.axhline(cap_gib * 1024, color="red", ls=":", label=f"cap {cap_gib:g} GiB (address space)")
    ax_t.set_title(f"fit time (p=q=392, k={K}, {device}; CorrNet: 1 epoch)")
    ax_m.set_title("peak resident memory")
    for ax, ylabel in ((ax_t, "seconds"), (ax_m, "MiB")):
        ax.set_xlabel("training rows n")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n in {2k, 10k}")
    parser.add_argument("--cap-gib", type=float, default=8.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--render", action="store_true", help="redo table and plot from the JSON")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.cap_gib, args.device)
        return

    suffix = "" if args.device == "cpu" else f"-{args.device.split(':')[0]}"
    name = f"scale{suffix}"
    if args.render:  # re-render the table and plot from a saved run
        stem = RESULTS / (f"{name}-quick" if args.quick else name)
        payload = json.loads(stem.with_suffix(".json").read_text())
    else:
        ns = [2_000, 10_000] if args.quick else [10_000, 100_000, 300_000, 1_000_000]
        results = []
        for n in ns:
            for method in METHODS:
                results.append(measure(method, n, args))
                print(results[-1], flush=True)
        payload = {
            "machine": machine(args.device),
            "cap_gib": args.cap_gib,
            "timeout_s": args.timeout,
            "results": results,
        }

    table = [
        {**r, "n": str(r["n"]), "fit's own MiB": r["peak_rss_mib"] - r["rss_before_fit_mib"]}
        if r["status"] == "ok"
        else {**r, "n": str(r["n"])}
        for r in payload["results"]
    ]
    columns = [
        "n", "method", "status", "fit_s", "data_mib", "peak_rss_mib", "fit's own MiB", "total_corr"
    ]
    lines = [
        f"Synthetic p=q=392 float32, k={K}; each fit in a child process capped at "
        f"{payload['cap_gib']:g} GiB of address space, timeout {payload['timeout_s']:.0f} s. "
        "CorrNet: defaults with max_iter=1 (one epoch). data_mib: X and Y; "
        "peak_rss_mib: the process's peak resident memory (libraries and data "
        "included); fit's own MiB: peak minus the resident memory just before "
        "fit (an upper bound on what the fit allocated). total_corr: held-out "
        f"({N_TEST} rows), linear population value {spectrum(K).sum():.2f}.",
        f"Machine: {payload['machine']}",
        "",
        *markdown_table(
            table,
            columns,
            {"fit_s": ".1f", "data_mib": ".0f", "peak_rss_mib": ".0f", "fit's own MiB": ".0f"},
        ),
    ]
    stem = save(name, payload, lines, quick=args.quick)
    plot(payload["results"], stem.with_suffix(".png"), payload["cap_gib"], args.device)


if __name__ == "__main__":
    main()
