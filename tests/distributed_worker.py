"""One rank of the distributed tests (``tests/test_distributed.py``).

Launched twice, as ``torchrun --nproc_per_node 2 distributed_worker.py OUT``
(CorrNet initialises the process group from torchrun's environment), or as
``distributed_worker.py OUT --file-store PATH --rank R`` with no launcher
environment (the worker initialises the group itself, and CorrNet must use
it). Each scenario writes what the test checks to ``OUT/<name>-<rank>.pkl``:
a fitted model, gradients, or the error a rank raised.
"""

import argparse
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from skcorrnet import CorrNet
from skcorrnet._distributed import Ranks
from skcorrnet._module import CorrNetModule
from skcorrnet._training import TrainingStep
from views import halves, paper_objective

# Rows of digits halves used for training; the rest are held out by the test.
N_TRAIN = 1500
# Random start, no early stopping: the training itself is compared across ranks.
FIT = dict(
    n_components=10, hidden_layer_sizes=(64,), max_iter=10, init="random",
    early_stopping=False, random_state=0,
)


def shard(n_rows, rank, world_size):
    """This rank's contiguous row range (e.g. of a memmap)."""
    bounds = np.linspace(0, n_rows, world_size + 1).astype(int)
    return slice(bounds[rank], bounds[rank + 1])


def save(out, name, rank, value):
    with open(out / f"{name}-{rank}.pkl", "wb") as f:
        pickle.dump(value, f)


def outcome(fn):
    """``("ok", fn())`` or ``("error", type name, message)``."""
    try:
        return ("ok", fn())
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


def gradient_batch():
    """A global batch with a missing view and duplicated rows, and its masks."""
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(13, 6, generator=gen), torch.randn(13, 4, generator=gen)
    y[7] = y[2]  # duplicate partners: not negatives of each other
    has_x = torch.ones(13, dtype=torch.bool)
    has_y = torch.ones(13, dtype=torch.bool)
    has_x[4], has_y[9] = False, False
    x[4], y[9] = 0.0, 0.0
    return x, y, (has_x, has_y)


def gradients(rank):
    """Gradients of one DDP step on this rank's rows of :func:`gradient_batch`."""
    x, y, (has_x, has_y) = gradient_batch()
    shards = [np.arange(0, 5), np.arange(5, 13)]  # uneven on purpose
    rows = shards[rank]
    paired = (has_x & has_y).numpy()
    sizes = np.array([[len(r), paired[r].sum()] for r in shards])
    network = CorrNetModule(
        6, 4, 3, (5,), (5,), "tanh", "tanh", torch.Generator().manual_seed(0)
    )
    objective = paper_objective(correlation_weight=2.0, ranking_weight=0.5)
    ranks = Ranks(torch.device("cpu"))
    step = ranks.wrap(TrainingStep(network, objective, ranks))
    loss, _ = step(x[rows], y[rows], (has_x[rows], has_y[rows]), sizes)
    loss.backward()
    return {name: p.grad.clone() for name, p in network.named_parameters()}


def user_group(out, file_store, rank, X, Y):
    """Scenario: the user's own group (CorrNet must use it, not create one)."""
    dist.init_process_group(
        "gloo", init_method=f"file://{file_store}", rank=rank, world_size=2
    )
    group = dist.group.WORLD
    mine = shard(N_TRAIN, dist.get_rank(), 2)
    model = CorrNet(distributed=True, device="cpu", **FIT).fit(X[mine], Y[mine])
    save(out, "user-group", dist.get_rank(), (model, dist.group.WORLD is group))


def trained_scenarios(out, rank, mine, X, Y):
    """In-memory shards; row ranges of one memmap with early stopping;
    one-view rows with the ranking term; partial_fit chunks."""
    save(out, "fit", rank, CorrNet(distributed=True, **FIT).fit(X[mine], Y[mine]))
    path = out / "views.npy"
    if rank == 0:
        np.save(path, np.hstack([X, Y]).astype(np.float32))
    dist.barrier()
    both = np.load(path, mmap_mode="r")
    model = CorrNet(  # each rank seeded differently: both starts are rank 0's
        distributed=True, early_stopping=True, n_iter_no_change=3, tol=0.05,
        n_components=10, hidden_layer_sizes=(64,), max_iter=80, random_state=rank,
    )  # fmt: skip
    save(out, "memmap", rank, model.fit(both[mine, :32], both[mine, 32:]))
    Xs, Ys = X[mine].copy(), Y[mine].copy()
    lonely = np.arange(rank, len(Xs), 3)  # a third of each shard is one-view
    Ys[lonely[::2]] = np.nan
    Xs[lonely[1::2]] = np.nan
    model = CorrNet(
        distributed=True, allow_missing_views=True, ranking_weight=1.0, **FIT
    )
    save(out, "missing", rank, model.fit(Xs, Ys))
    model = CorrNet(
        distributed=True, n_components=10, hidden_layer_sizes=(64,), random_state=rank
    )
    for chunk in np.array_split(np.arange(mine.stop - mine.start), 3):
        model.partial_fit(X[mine][chunk], Y[mine][chunk])
    save(out, "partial", rank, model)


def error_scenarios(out, rank, mine, X, Y):
    """Errors on one rank stop every rank, and the group stays usable."""
    bad = X[mine].copy()
    if rank == 1:
        bad[3, 5] = np.nan
    errors = {
        "nan": lambda: CorrNet(distributed=True, max_iter=2).fit(bad, Y[mine]),
        "width": lambda: CorrNet(distributed=True, max_iter=2).fit(
            X[mine, : 32 if rank == 0 else 31], Y[mine]
        ),
        "settings": lambda: CorrNet(
            distributed=True, max_iter=2, n_components=2 + rank
        ).fit(X[mine], Y[mine]),
    }
    for name, fit in errors.items():
        save(out, name, rank, outcome(fit))
    model = CorrNet(distributed=True, **FIT).fit(X[mine], Y[mine])
    save(out, "after-errors", rank, model)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--file-store")
    parser.add_argument("--rank", type=int)
    args = parser.parse_args()
    X, Y = halves()
    X, Y = X[:N_TRAIN], Y[:N_TRAIN]
    if args.file_store:
        user_group(args.out, args.file_store, args.rank, X, Y)
    else:
        rank = int(os.environ["RANK"])
        mine = shard(N_TRAIN, rank, 2)
        trained_scenarios(args.out, rank, mine, X, Y)
        save(args.out, "gradients", rank, gradients(rank))
        error_scenarios(args.out, rank, mine, X, Y)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
