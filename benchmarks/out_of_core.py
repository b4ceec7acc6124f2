"""Beyond memory and dense arrays: memmaps, sparse input, the estimator's overhead.

Three studies, each case in a fresh child process whose anonymous memory
(``RssAnon`` in /proc/self/status: the heap, not the file pages a memmap maps)
is sampled every 10 ms by a thread, so the peak is observed, not estimated:

1. ``memmap``: one epoch of ``CorrNet(50, max_iter=1)`` on X and Y held in
   ``np.memmap`` files (:func:`_common.latent_factor_views`, p = q = 392,
   float32), n from 10k to 1M rows (1M rows are 3.1 GB on disk). The fit time
   includes the three passes around the epoch (scan, epoch, canonical fit).
   The files are written just before and so sit in the page cache: the figure
   is the estimator's cost, not the disk's.
2. ``sparse``: a bag-of-words-like X (p = 10,000 columns, 1% nonzero counts)
   paired with a dense y (392 columns), given as a CSR matrix or as the same
   matrix densified; 3 epochs each. The dense X also runs with
   ``init="random"``: a dense view over 2,048 columns starts from the ridge
   CCA in its leading principal directions, found from a sample of the rows,
   and this case shows what that start adds to the peak.
3. ``hand loop``: the estimator against the plain PyTorch loop a user would
   write for the same network (in-memory float32 tensors, already
   standardised, ``randperm`` batches, the same loss), n = 100k, 3 epochs.

Run: python benchmarks/out_of_core.py [--quick] [--device D]
Writes benchmarks/results/out_of_core.{json,md,png}.
"""

import argparse
import json
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from _common import (
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
P = 392
HIDDEN = 256
BATCH = 128
RANDOM_START = 'dense, init="random"'
LR = 3e-3
EPOCHS = 3


class PeakAnon:
    """Peak RssAnon (MiB) while the ``with`` block runs, sampled every 10 ms."""

    def __enter__(self):
        self.before = self.peak = status_mib("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, status_mib("RssAnon"))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, status_mib("RssAnon"))


def write_memmaps(n, folder):
    """latent_factor_views rows written to two .npy memmaps, 100k rows at a time."""
    paths = [Path(folder) / f"{name}-{n}.npy" for name in ("x", "y")]
    outs = [
        np.lib.format.open_memmap(p, mode="w+", dtype=np.float32, shape=(n, P))
        for p in paths
    ]
    for start in range(0, n, 100_000):
        stop = min(start + 100_000, n)
        X, Y = latent_factor_views(stop - start, spectrum(K), P, rows_seed=start + 1)
        outs[0][start:stop], outs[1][start:stop] = X, Y
    for out in outs:
        out.flush()
    return [str(p) for p in paths]


def sparse_views(n, seed=0):
    """X: counts over 10,000 "words", 1% nonzero; y: 392 dense columns tied to X."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    X = sp.random(
        n, 10_000, density=0.01, format="csr", dtype=np.float32, random_state=rng
    )
    X.data = rng.poisson(2.0, X.nnz).astype(np.float32) + 1
    mixing = rng.standard_normal((10_000, P)).astype(np.float32) / 10
    Y = np.asarray(X @ mixing) + rng.standard_normal((n, P)).astype(np.float32)
    return X, Y


def hand_loop(X, Y, device, epochs, seed=0):
    """What a user writes by hand: standardise once, randperm batches, same loss."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    x = torch.from_numpy((X - X.mean(0)) / X.std(0)).to(device)
    y = torch.from_numpy((Y - Y.mean(0)) / Y.std(0)).to(device)

    def mlp(*sizes):
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return layers

    enc_x = nn.Sequential(*mlp(P, HIDDEN), nn.Linear(HIDDEN, K, bias=False)).to(device)
    enc_y = nn.Sequential(*mlp(P, HIDDEN), nn.Linear(HIDDEN, K, bias=False)).to(device)
    bias = nn.Parameter(torch.zeros(K, device=device))
    dec_x = nn.Sequential(*mlp(K, HIDDEN), nn.Linear(HIDDEN, P)).to(device)
    dec_y = nn.Sequential(*mlp(K, HIDDEN), nn.Linear(HIDDEN, P)).to(device)
    params = [bias, *(p for m in (enc_x, enc_y, dec_x, dec_y) for p in m.parameters())]
    opt = torch.optim.Adam(params, lr=LR)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), device=device).split(BATCH):
            xb, yb = x[batch], y[batch]
            px, py = enc_x(xb), enc_y(yb)
            hx, hy, hxy = (torch.relu(p + bias) for p in (px, py, px + py))
            loss = sum(
                ((dec_x(h) - xb) ** 2).mean() + ((dec_y(h) - yb) ** 2).mean()
                for h in (hxy, hx, hy)
            )
            cx, cy = hx - hx.mean(0), hy - hy.mean(0)
            corr = (cx * cy).sum(0) / ((cx**2).sum(0) * (cy**2).sum(0) + 1e-8).sqrt()
            loss = loss - 2.0 * corr.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    if device != "cpu":
        torch.cuda.synchronize()


def child(spec, device):
    """Run one case; print one JSON line."""
    from skcorrnet import CorrNet

    warnings.simplefilter("ignore")  # convergence notes of 1-3 epoch fits
    result = dict(spec)
    study = spec["study"]
    model = CorrNet(
        K, hidden_layer_sizes=(HIDDEN,), batch_size=BATCH, random_state=0, device=device
    )
    if study == "memmap":
        X, Y = (np.load(p, mmap_mode="r") for p in spec["paths"])
        result["data_mib"] = (X.nbytes + Y.nbytes) / 2**20
        model.set_params(max_iter=1)
        args = (X, Y)
    elif study == "sparse":
        X, Y = sparse_views(spec["n"])
        if spec["input"].startswith("dense"):
            X = X.toarray()
        if spec["input"] == RANDOM_START:
            model.set_params(init="random")
        model.set_params(max_iter=EPOCHS)
        args = (X, Y)
    else:
        X, Y = latent_factor_views(spec["n"], spectrum(K), P)
        args = (X, Y)
    with PeakAnon() as memory:
        start = time.perf_counter()
        if spec.get("method") == "hand loop":
            hand_loop(X, Y, device, EPOCHS)
        else:
            model.set_params(max_iter=1 if study == "memmap" else EPOCHS)
            model.fit(*args)
        result["seconds"] = time.perf_counter() - start
    result["rss_anon_before_mib"] = memory.before
    result["rss_anon_peak_mib"] = memory.peak
    print(json.dumps(result))


def measure(spec, device):
    """One study's measurement, in a fresh process; its JSON line."""
    result = run_child(__file__, ["--child", json.dumps(spec), "--device", device])
    print(result, flush=True)
    return result


def plot(memmap_rows, path):
    plt = pyplot()
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4))
    ns = [r["n"] for r in memmap_rows]
    ax_t.loglog(
        ns,
        [r["seconds"] for r in memmap_rows],
        "o-",
        label="CorrNet, 1 epoch + 2 passes",
    )
    ax_m.loglog(
        ns, [r["data_mib"] for r in memmap_rows], "k--", label="the data (memmap files)"
    )
    ax_m.loglog(
        ns, [r["rss_anon_peak_mib"] for r in memmap_rows], "o-", label="peak RssAnon"
    )
    ax_m.axhline(1024, color="red", ls=":", label="1 GiB target")
    ax_t.set_title(f"memmap input: fit time (p=q={P}, k={K})")
    ax_m.set_title("anonymous memory of the process")
    for ax, ylabel in ((ax_t, "seconds"), (ax_m, "MiB")):
        ax.set_xlabel("training rows n")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def measure_all(quick, device):
    """Every study's results, each measured in a fresh process."""
    memmap_ns = [10_000, 50_000] if quick else [10_000, 100_000, 300_000, 1_000_000]
    sparse_n = 2_000 if quick else 20_000
    loop_n = 10_000 if quick else 100_000
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for n in memmap_ns:
            paths = write_memmaps(n, folder)
            results.append(measure({"study": "memmap", "n": n, "paths": paths}, device))
            for p in paths:
                Path(p).unlink()
    for kind in ("sparse", "dense", RANDOM_START):
        results.append(measure({"study": "sparse", "n": sparse_n, "input": kind}, device))
    for method in ("CorrNet", "hand loop"):
        results.append(measure({"study": "loop", "n": loop_n, "method": method}, device))
    for r in results:
        r.pop("paths", None)
    return results


def report(results, machine_name):
    """The markdown lines of the three studies' tables, and the loop ratio."""
    memmap_rows = [r for r in results if r["study"] == "memmap"]
    sparse = {r["input"]: r for r in results if r["study"] == "sparse"}
    loop = {r["method"]: r for r in results if r["study"] == "loop"}
    ratio = loop["CorrNet"]["seconds"] / loop["hand loop"]["seconds"]
    fmt = {"seconds": ".1f", "data_mib": ".0f", "rss_anon_before_mib": ".0f",
           "rss_anon_peak_mib": ".0f"}  # fmt: skip
    memory = ["rss_anon_before_mib", "rss_anon_peak_mib"]

    def table(rows, first):
        rows = [{**r, "n": str(r["n"])} for r in rows]
        return markdown_table(rows, [first, "n", "seconds", *memory], fmt)

    sparse_n, loop_n = sparse["dense"]["n"], loop["CorrNet"]["n"]
    lines = [
        f"Machine: {machine_name}", "",
        f"**memmap input**: CorrNet({K}, max_iter=1) on p=q={P} float32 memmaps "
        "(files in the page cache); seconds include the scan and canonical passes.",
        "",
        *markdown_table([{**r, "n": str(r["n"])} for r in memmap_rows],
                        ["n", "seconds", "data_mib", *memory], fmt),
        "",
        f"**sparse vs dense X** (n={sparse_n}, 10,000 columns at 1% density, y dense "
        f"{P} columns; {EPOCHS} epochs):", "",
        *table(sparse.values(), "input"), "",
        f"**estimator vs hand-written torch loop** (n={loop_n}, p=q={P}, hidden "
        f"{HIDDEN}, k={K}, batch {BATCH}, {EPOCHS} epochs, in memory): "
        f"the estimator takes {ratio:.2f}x the hand loop's time.", "",
        *table(loop.values(), "method"),
    ]  # fmt: skip
    return lines, ratio


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small n for each study")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child), args.device)
        return
    results = measure_all(args.quick, args.device)
    payload = {"machine": machine(args.device), "results": results}
    lines, payload["estimator_over_hand_loop"] = report(results, payload["machine"])
    suffix = "" if args.device == "cpu" else f"-{args.device.split(':')[0]}"
    stem = save(f"out_of_core{suffix}", payload, lines, quick=args.quick)
    plot([r for r in results if r["study"] == "memmap"], stem.with_suffix(".png"))


if __name__ == "__main__":
    main()
