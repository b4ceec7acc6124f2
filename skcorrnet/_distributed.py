"""Training in several processes with torch.distributed (``distributed=True``).

Every process of a torch.distributed group (started by ``torchrun`` or any
launcher that sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT) calls
``fit`` on its own rows. :class:`Ranks` is the group as training sees it:
sums and gathers of small arrays (counts, moments, losses), a differentiable
gather of latent rows, DistributedDataParallel for the gradients, and
agreement on failures so that an error on one rank never leaves the others
waiting. :data:`LOCAL`, the single-process case, has the same interface and
communicates nothing, so the training code has one path.
"""

import os
import zlib
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ._data import merge_moments

__all__ = ["LOCAL", "Ranks", "check_same_settings", "join", "local_device"]

# Variables a launcher (torchrun) sets for init_process_group's env:// method.
_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class LocalRanks:
    """One process: every collective is the identity."""

    rank = 0
    world_size = 1
    group = None  # the process group (a trainer is kept while it lasts)

    def sum(self, values):
        """Element-wise sum over ranks of a float64 array."""
        return np.asarray(values, dtype=np.float64)

    def gather(self, values):
        """Stack of every rank's ``values`` (same shape on all ranks), by rank."""
        return np.asarray(values)[None]

    def gather_rows(self, t, counts):
        """Rows of ``t`` from every rank, concatenated in rank order."""
        return t

    def merge_moments(self, moments):
        """Every rank's ``(count, mean, M2)`` merged (see :func:`merge_moments`)."""
        return moments

    def agree(self, fn):
        """``fn()``; its exception is raised (on every rank, see :class:`Ranks`)."""
        return fn()

    def broadcast(self, state):
        """Rank 0's tensors of ``state`` (a module's state dict), in place."""
        return state

    def wrap(self, module):
        """The module whose backward pass averages gradients over ranks."""
        return module


class Ranks(LocalRanks):
    """The processes of the default torch.distributed group.

    Parameters
    ----------
    device : torch.device
        Where this rank's model lives. Collectives run on it under NCCL and
        on the CPU under Gloo.
    """

    def __init__(self, device):
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.group = dist.group.WORLD
        self.device = device
        backend = str(dist.get_backend()).lower()
        if device.type == "cuda" and "nccl" in backend:
            self._comm = device
        elif "gloo" in backend:
            self._comm = torch.device("cpu")
        else:
            raise ValueError(
                f"The process group's backend {backend!r} cannot carry "
                f"{device.type} tensors: use the gloo backend to train on CPUs "
                "and nccl (or nccl and gloo) on GPUs."
            )

    def sum(self, values):
        t = torch.as_tensor(np.asarray(values, dtype=np.float64), device=self._comm)
        dist.all_reduce(t)
        return t.cpu().numpy()

    def gather(self, values):
        t = torch.as_tensor(np.asarray(values), device=self._comm)
        parts = [torch.empty_like(t) for _ in range(self.world_size)]
        dist.all_gather(parts, t.contiguous())
        return torch.stack(parts).cpu().numpy()

    def gather_rows(self, t, counts):
        """Rows of ``t`` from every rank; gradients flow to this rank's own rows.

        ``counts`` (every rank's row count, known to all) lets ranks pad to
        the largest count, as ``all_gather`` needs equal shapes. Other ranks'
        rows arrive without gradient: each rank differentiates the global
        terms with respect to its own rows only, and DDP's average over ranks
        (times ``world_size``, see :class:`._training.TrainingStep`) adds the
        ranks' shares into the gradient of the global batch.
        """
        longest = int(max(counts))
        if longest == 0:  # no rank has rows: nothing to exchange
            return t
        padded = torch.zeros((longest, *t.shape[1:]), dtype=t.dtype, device=self._comm)
        padded[: t.shape[0]] = t.detach().to(self._comm)
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        rows = [part[: int(n)].to(t.device) for part, n in zip(parts, counts)]
        rows[self.rank] = t
        return torch.cat(rows)

    def broadcast(self, state):
        for value in state.values():
            t = value.detach().to(self._comm)
            dist.broadcast(t, src=0)
            value.copy_(t)
        return state

    def merge_moments(self, moments):
        n_rows, mean, m2 = moments
        mean, m2 = np.asarray(mean, dtype=np.float64), np.asarray(m2, dtype=np.float64)
        packed = np.concatenate([[n_rows], mean.ravel(), m2.ravel()])
        merged = (0, 0.0, 0.0)
        for row in self.gather(packed):
            part = (
                int(row[0]),
                row[1 : 1 + mean.size].reshape(mean.shape),
                row[1 + mean.size :].reshape(m2.shape),
            )
            merged = merge_moments(merged, part)
        return merged

    def agree(self, fn):
        """``fn()`` on every rank; if it raises on any, every rank raises.

        The rank that failed raises its own exception; the others raise a
        RuntimeError naming the failed ranks, instead of waiting forever in
        the next collective.
        """
        try:
            result, error = fn(), None
        except Exception as exc:  # re-raised below, after the ranks agree
            result, error = None, exc
        failed = np.flatnonzero(self.gather(np.array([int(error is not None)]))[:, 0])
        if error is not None:
            raise error
        if len(failed):
            raise RuntimeError(
                f"CorrNet stopped on every rank: rank(s) {failed.tolist()} "
                "raised an error (see their output)."
            )
        return result

    def wrap(self, module):
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)


LOCAL = LocalRanks()


def local_device(device):
    """The device string that a rank of a distributed fit trains on.

    ``"auto"`` and ``"cuda"`` mean this rank's GPU, ``cuda:LOCAL_RANK``.
    ``"auto"`` takes GPUs only when every process on this machine
    (``LOCAL_WORLD_SIZE``, set by torchrun) has one of its own, so that all
    ranks train alike; else the CPU. ``"cuda"`` with too few GPUs is an
    error. An explicit ``"cuda:i"`` or ``"cpu"`` is kept.
    """
    if device not in ("auto", "cuda") or not torch.cuda.is_available():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    per_machine = int(os.environ.get("LOCAL_WORLD_SIZE", local_rank + 1))
    n_gpus = torch.cuda.device_count()
    if max(per_machine, local_rank + 1) <= n_gpus:
        return f"cuda:{local_rank}"
    if device == "auto":
        return "cpu"
    raise ValueError(
        f"device='cuda' gives each rank its own GPU, but this machine runs "
        f"{per_machine} ranks (LOCAL_RANK={local_rank}) on {n_gpus} CUDA "
        f"device(s): start at most {n_gpus} processes per machine, or use "
        "device='cpu' or 'auto'."
    )


# Seconds a collective of a group CorrNet creates waits for every rank.
DEFAULT_TIMEOUT_S = 300


def join(device):
    """Join (or reuse) the default process group; its :class:`Ranks`.

    A group the user initialised is used as it is. Otherwise the launcher's
    environment variables are required, and the group is initialised with
    NCCL for a CUDA device and Gloo for the CPU; it stays initialised for
    later calls (``torch.distributed.destroy_process_group()`` ends it).
    """
    if not dist.is_available():
        raise ValueError(
            "distributed=True needs torch.distributed, which this build of "
            "torch does not include."
        )
    if not dist.is_initialized():
        missing = [name for name in _LAUNCH_VARIABLES if name not in os.environ]
        if missing:
            raise ValueError(
                "distributed=True needs a torch.distributed process group: "
                "launch the script with torchrun (e.g. `torchrun "
                "--nproc_per_node 2 script.py`) or call "
                "torch.distributed.init_process_group() before fit. Missing "
                f"environment variables: {', '.join(missing)}."
            )
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo", timeout=group_timeout()
        )
    return Ranks(device)


def group_timeout():
    """How long a collective waits for a lost or stalled rank before failing.

    ``SKCORRNET_DIST_TIMEOUT`` seconds (default :data:`DEFAULT_TIMEOUT_S`,
    against torch's 30 minutes), for the groups CorrNet initialises; a group
    the user initialises keeps the ``timeout`` given to
    ``init_process_group``.
    """
    value = os.environ.get("SKCORRNET_DIST_TIMEOUT", str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(
            "SKCORRNET_DIST_TIMEOUT must be a positive number of seconds, got "
            f"{value!r}."
        )
    return timedelta(seconds=seconds)


def check_same_settings(ranks, params, n_features, n_targets):
    """Raise on every rank when ranks differ in data width or settings.

    ``params`` are the estimator parameters that must agree (those that
    shape the model and its training); ranks compare a checksum of them.
    """
    if ranks.world_size == 1:
        return
    checksum = zlib.crc32(repr(sorted(params.items())).encode())
    table = ranks.gather(np.array([n_features, n_targets, checksum], dtype=np.int64))
    for column, what in enumerate(
        ("numbers of X features", "numbers of y features", "CorrNet parameters")
    ):
        values = table[:, column]
        if (values != values[0]).any():
            detail = "" if column == 2 else f" ({values.tolist()} by rank)"
            raise ValueError(
                f"The ranks of a distributed fit differ in their {what}{detail}; "
                "every rank must fit the same model on the same columns."
            )
