"""One process against two: ``CorrNet(distributed=True)`` under torchrun.

The data (:func:`_common.latent_factor_views`, p = q = 392 float32, n rows)
are written to one pair of ``.npy`` memmaps; every configuration trains
``CorrNet(50, hidden_layer_sizes=(256,))`` on them for ``EPOCHS`` epochs and
is timed after a 1-epoch warm-up fit (``warm_start``), so the time per epoch
excludes start-up and includes one scan and one canonical pass per fit:

- 1 process, 2 threads: the plain estimator on all rows (``distributed=False``);
- 1 process, 1 thread: the same, restricted to one core;
- 2 processes x 1 thread: ``torchrun --nproc_per_node 2``, each rank on its
  half of the rows (a row range of the memmap), gloo over 127.0.0.1.

Each is run at a global batch of 128 rows (the former default) and at 1024.
Rank 0 also reports the final training loss and the held-out total correlation (10k
fresh rows from the same model), to show that the configurations optimise
the same objective.

Run: python benchmarks/distributed.py [--quick]
Writes benchmarks/results/distributed.{json,md}.
"""

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from _common import (
    latent_factor_views,
    machine,
    markdown_table,
    run_child,
    save,
    spectrum,
)

K = 50
P = 392
EPOCHS = 3


def write_views(n, folder):
    """Training rows as two memmap files (and held-out rows kept in memory)."""
    paths = [str(Path(folder) / f"{view}.npy") for view in ("x", "y")]
    for path, view in zip(paths, latent_factor_views(n, spectrum(K), P, rows_seed=1)):
        np.save(path, view)
    return paths


def child(spec):
    """Train one configuration (as one rank when launched by torchrun)."""
    import torch

    from skcorrnet import CorrNet
    from skcorrnet.metrics import total_correlation

    warnings.simplefilter("ignore")  # convergence notes of short fits
    torch.set_num_threads(spec["threads"])
    rank = int(os.environ.get("RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    X, Y = (np.load(path, mmap_mode="r") for path in spec["paths"])
    bounds = np.linspace(0, X.shape[0], world_size + 1).astype(int)
    mine = slice(bounds[rank], bounds[rank + 1])  # a row range: still a memmap
    X, Y = X[mine], Y[mine]
    model = CorrNet(
        K,
        hidden_layer_sizes=(256,),
        batch_size=spec["batch_size"],
        max_iter=1,
        random_state=0,
        device="cpu",
        distributed=world_size > 1,
    )
    model.fit(X, Y)  # warm-up: starts the process group, touches the pages
    model.set_params(warm_start=True, max_iter=EPOCHS)
    start = time.perf_counter()
    model.fit(X, Y)
    seconds = time.perf_counter() - start
    if rank == 0:
        X_test, Y_test = latent_factor_views(10_000, spectrum(K), P, rows_seed=2)
        train = model.transform(X[:10_000], Y[:10_000])
        result = dict(
            spec,
            seconds_per_epoch=seconds / EPOCHS,
            rows_per_second=EPOCHS * bounds[-1] / seconds,
            final_loss=model.loss_,
            held_out_total_corr=total_correlation(
                *train, *model.transform(X_test, Y_test)
            ),
        )
        result.pop("paths")
        print(json.dumps(result), flush=True)


def run(spec):
    """Launch one configuration; its rank-0 JSON line."""
    launcher = ()
    if spec["processes"] > 1:
        launcher = ("-m", "torch.distributed.run", "--standalone",
                    "--nproc_per_node", spec["processes"])  # fmt: skip
    result = run_child(__file__, ["--child", json.dumps(spec)], map(str, launcher))
    print(result, flush=True)
    return result


def measure_all(n):
    """Each batch size and setup, launched in turn; speed-ups against 1 x 2."""
    results = []
    with tempfile.TemporaryDirectory() as folder:
        paths = write_views(n, folder)
        for batch_size in (128, 1024):
            for processes, threads in ((1, 2), (1, 1), (2, 1)):
                spec = dict(n=n, batch_size=batch_size, processes=processes,
                            threads=threads, paths=paths)  # fmt: skip
                results.append(run(spec))
    for r in results:
        r["setup"] = f"{r['processes']} process(es) x {r['threads']} thread(s)"
        base = next(
            b for b in results
            if b["batch_size"] == r["batch_size"] and (b["processes"], b["threads"]) == (1, 2)
        )  # fmt: skip
        r["speed-up"] = base["seconds_per_epoch"] / r["seconds_per_epoch"]
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k rows instead of 100k")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    n = 10_000 if args.quick else 100_000
    results = measure_all(n)
    payload = {"machine": machine(), "epochs": EPOCHS, "results": results}
    columns = ["batch_size", "setup", "seconds_per_epoch", "rows_per_second",
               "speed-up", "final_loss", "held_out_total_corr"]  # fmt: skip
    formats = {"seconds_per_epoch": ".2f", "rows_per_second": ".0f", "speed-up": ".2f",
               "final_loss": ".2f", "held_out_total_corr": ".2f"}  # fmt: skip
    lines = [
        f"Machine: {payload['machine']}",
        "",
        f"CorrNet({K}, hidden (256,)) on n={n} rows of p=q={P} float32 memmaps, "
        f"{EPOCHS} epochs after a 1-epoch warm-up; the 2-process runs use torchrun "
        "(gloo, 127.0.0.1), each rank on its half of the rows. batch_size is the "
        "global batch. speed-up: against 1 process x 2 threads at the same batch.",
        "",
        *markdown_table(
            [{**r, "batch_size": str(r["batch_size"])} for r in results], columns, formats
        ),
    ]
    save("distributed", payload, lines, quick=args.quick)


if __name__ == "__main__":
    main()
