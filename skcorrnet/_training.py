"""Minibatch training and batched inference for a CorrNetModule.

Data stay where the caller keeps them (a numpy array, a memmap, a sparse
matrix): each batch's rows are read, converted to float32 and standardised on
the target device (:mod:`._data`), so the memory used beyond the inputs is
O(batch), never a full copy. Streamed views (memmaps, h5py datasets) are read
in shuffled blocks of contiguous rows, so the disk is read sequentially.
"""

import functools

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ._data import INFERENCE_ROWS, is_streamed, read_rows, row_nbytes, to_tensor
from ._distributed import LOCAL
from ._losses import TERMS, corrnet_loss

__all__ = [
    "SOLVERS",
    "TrainingStep",
    "make_optimizer",
    "map_batches",
    "resolve_device",
    "train_epoch",
]

SOLVERS = {
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,  # the original CorrNet's optimiser
    "sgd": torch.optim.SGD,
}

# Streamed views are read a buffer at a time: about this many bytes of rows
# (both views), gathered from _BUFFER_BLOCKS contiguous blocks drawn at random,
# shuffled within the buffer and cut into batches.
_BUFFER_BYTES = 64 * 2**20
_BUFFER_BLOCKS = 16


def resolve_device(device):
    """A torch.device from the estimator's ``device`` string.

    ``"auto"`` picks the first CUDA device when one is available, else the CPU.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device={device!r} is not a valid torch device.") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available; "
            "use device='cpu' or device='auto'."
        )
    return resolved


def make_optimizer(solver, params, learning_rate):
    """The torch optimiser named by the estimator's ``solver``."""
    return SOLVERS[solver](params, lr=learning_rate)


class TrainingStep(nn.Module):
    """A batch's CorrNet loss as a module, so that DDP sees the whole step.

    In a distributed fit the correlation and ranking terms are those of the
    global batch: every rank's paired latents are gathered, and each rank's
    gradient holds its own rows' share of them. DDP averages the ranks'
    gradients, so the loss is multiplied by the number of ranks: the average
    is then exactly the gradient of the global batch's loss, as one process
    would compute it on all the rows.
    """

    def __init__(self, network, objective, ranks=LOCAL):
        super().__init__()
        self.network = network
        self.objective = objective
        self.ranks = ranks

    def forward(self, x, y, present, sizes):
        """Loss and terms of this rank's rows (x, y) of a global batch.

        ``sizes`` (world_size, 2) holds each rank's rows and paired rows in
        the global batch.
        """
        gather = None
        if self.ranks.world_size > 1:
            gather = functools.partial(self.ranks.gather_rows, counts=sizes[:, 0])
        n_rows, n_paired = (int(n) for n in sizes.sum(axis=0))
        loss, terms = corrnet_loss(
            self.network,
            x,
            y,
            self.objective,
            present,
            gather,
            (n_paired, n_rows - n_paired),
        )
        return loss * self.ranks.world_size, terms


def _batches(rows, n_batches, rng, paired=None):
    """A shuffled epoch of ``rows`` split into ``n_batches`` near-equal batches.

    An even split means no batch is ever much smaller than the others (a
    trailing batch of one row would carry no correlation signal). Rows are
    sorted within a batch: the loss does not depend on their order, and
    sorted reads are faster.

    With ``paired`` (a mask over ``rows``; the others have one view only),
    the paired rows and the one-view rows are each shuffled and spread evenly
    over the batches, so every batch holds its share of paired rows for the
    correlation term (:func:`_share` counts batches by paired rows then).
    """
    groups = [rows] if paired is None else [rows[paired], rows[~paired]]
    parts = [
        np.array_split(group[rng.permutation(len(group))], n_batches)
        for group in groups
    ]
    return [np.sort(np.concatenate(batch)) for batch in zip(*parts)]


def _share(rows, present, ranks):
    """``(local, total, by_paired)``: what this rank's batches are counted by.

    An epoch has ceil(total / batch_size) batches of the global batch, and
    each rank splits its rows into as many batches, so that every step's
    global batch holds about ``batch_size`` rows. With missing views, the
    count is of paired rows (each batch then holds ``batch_size`` paired
    rows, as without the one-view rows: on fewer the correlation term
    overfits, tried), unless this rank has none.
    """
    n_local = len(rows)
    paired_local = n_local
    if present is not None:
        paired_local = int((present[0] & present[1])[rows].sum())
    n_total, paired_total = ranks.sum([n_local, paired_local]).astype(int)
    if paired_total < n_total and paired_local > 0:
        return paired_local, paired_total, True
    return n_local, n_total, False


def _n_batches(count, batch_size, share):
    """Batches for ``count`` of this rank's rows: ceil(count / its per-batch share)."""
    local, total, _ = share
    return max(1, -(-(count * total) // (batch_size * local)))


def _present_tensors(present, rows, device):
    """The (has_x, has_y) masks of ``rows`` as tensors; None when all are paired."""
    if present is None:
        return None
    return tuple(torch.from_numpy(mask[rows]).to(device) for mask in present)


def _read(A, rows):
    """Rows of a view: gathered on the device for a staged tensor, else read."""
    if torch.is_tensor(A):
        if not isinstance(rows, slice):
            rows = torch.from_numpy(np.asarray(rows)).to(A.device)
        return A[rows]
    return read_rows(A, rows)


def _batch_tensors(X, Y, rows, stats, present):
    """Standardised rows of both views; a missing view's NaNs become zeros."""
    x = to_tensor(_read(X, rows), stats[0])
    y = to_tensor(_read(Y, rows), stats[1])
    if present is not None:  # sparse views hold no NaN (scan_view checks)
        x, y = (t if t.is_sparse_csr else torch.nan_to_num(t, nan=0.0) for t in (x, y))
    return x, y


def _concat(blocks):
    if sp.issparse(blocks[0]):
        return sp.vstack(blocks, format="csr")
    return np.concatenate(blocks)


def _epoch_parts(X, Y, rows, batch_size, rng, present):
    """The parts of an epoch: ``(blocks, its training rows, its masks)``.

    In-memory views are one part (``blocks`` None), indexed in place. When
    either view is streamed, the rows are split into contiguous blocks; each
    part is a buffer of ``_BUFFER_BLOCKS`` blocks drawn at random (read in
    file order, so reads are sequential), about ``_BUFFER_BYTES`` in all.
    Batches are shuffled within a buffer: rows far apart in the file meet in
    a batch when their blocks share a buffer, which a fresh draw each epoch
    varies. Parts are planned here and read by :func:`_read_part`.
    """
    if not (is_streamed(X) or is_streamed(Y)):
        return [(None, rows, present)]
    n_rows = X.shape[0]
    per_row = row_nbytes(X) + row_nbytes(Y)
    buffer_rows = max(batch_size, int(_BUFFER_BYTES // per_row))
    block_rows = max(1, buffer_rows // _BUFFER_BLOCKS)
    starts = np.arange(0, n_rows, block_rows)
    training = np.zeros(n_rows, dtype=bool)
    training[rows] = True
    order = rng.permutation(len(starts))
    parts = []
    for group in np.array_split(order, -(-len(starts) // _BUFFER_BLOCKS)):
        blocks = [slice(s, min(s + block_rows, n_rows)) for s in starts[np.sort(group)]]
        index = np.concatenate([np.arange(b.start, b.stop) for b in blocks])
        local = np.flatnonzero(training[index])
        if len(local):
            masks = None if present is None else tuple(m[index] for m in present)
            parts.append((blocks, local, masks))
    return parts


def _read_part(X, Y, blocks):
    """A part's (X, Y): the views themselves, or their blocks read and joined."""
    if blocks is None:
        return X, Y
    return (
        _concat([read_rows(X, b) for b in blocks]),
        _concat([read_rows(Y, b) for b in blocks]),
    )


def _plan_epoch(X, Y, rows, batch_size, rng, present, ranks):
    """This rank's batches, and every rank's batch sizes at every step.

    Returns
    -------
    steps : list of (int, ndarray)
        Part index and batch rows (indices into the part) of each step.
    parts : list
        From :func:`_epoch_parts`.
    sizes : ndarray of shape (world_size, n_steps, 2)
        Rows and paired rows of each rank's batch at each step; ranks with
        fewer batches than the most take part in the last steps with none,
        so that every rank takes the same number of optimiser steps.
    """
    share = _share(rows, present, ranks)
    parts = _epoch_parts(X, Y, rows, batch_size, rng, present)
    steps, local_sizes = [], []
    for index, (_, part_rows, part_present) in enumerate(parts):
        paired = None
        if part_present is not None:
            paired = (part_present[0] & part_present[1])[part_rows]
        count = len(part_rows) if paired is None or not share[2] else paired.sum()
        for batch in _batches(
            part_rows, _n_batches(int(count), batch_size, share), rng, paired
        ):
            steps.append((index, batch))
            n_paired = len(batch)
            if part_present is not None:
                n_paired = int((part_present[0] & part_present[1])[batch].sum())
            local_sizes.append((len(batch), n_paired))
    n_steps = int(ranks.gather(np.array([len(steps)])).max())
    padded = np.zeros((n_steps, 2), dtype=np.int64)
    padded[: len(local_sizes)] = local_sizes
    return steps, parts, ranks.gather(padded)


def train_epoch(
    step, optimizer, X, Y, rows, stats, batch_size, rng, present=None, ranks=LOCAL,
    progress=None,
):  # fmt: skip
    """One pass over ``rows`` of (X, Y); returns the row-weighted mean terms.

    Parameters
    ----------
    step : TrainingStep, or it wrapped in DistributedDataParallel
    X, Y : ndarray, streamed array, CSR matrix, or tensor staged on the device
    rows : ndarray of int
        The rows of X and Y to train on (the others may be held out).
    stats : tuple of ((x_mean, x_scale), (y_mean, y_scale))
        Standardisation tensors, on the module's device and in its dtype; a
        mean of None leaves the view uncentred.
    batch_size : int
        Rows of the global batch (of all ranks together).
    rng : numpy.random.RandomState
        Drives the shuffling.
    present : tuple of two bool ndarrays over all rows of X, default=None
        Which rows have their x view and which their y view (the missing
        view's values are NaN); None when every row is paired.
    ranks : LocalRanks or Ranks, default=LOCAL
        The processes training together, each on its own rows.
    progress : callable, default=None
        Called after each step with the rows done so far (of all ranks).

    Returns
    -------
    dict of str to float
        ``loss`` and each of :data:`TERMS`, averaged over the epoch's rows
        (of all ranks).
    """
    step.train()
    device = stats[0][1].device
    steps, parts, sizes = _plan_epoch(X, Y, rows, batch_size, rng, present, ranks)
    n_total = sizes[:, :, 0].sum()
    sums = np.zeros(len(TERMS))
    empty = (  # this rank's batch at steps where it has no rows left
        torch.zeros((0, X.shape[1]), device=device),
        torch.zeros((0, Y.shape[1]), device=device),
    )
    current, data, done = None, None, 0
    for t in range(sizes.shape[1]):
        n_rows = int(sizes[:, t, 0].sum())
        done += n_rows
        if n_rows == 0:
            continue
        mask = None
        if t < len(steps):
            index, batch = steps[t]
            if index != current:
                current, data = index, _read_part(X, Y, parts[index][0])
            part_present = parts[index][2]
            x, y = _batch_tensors(*data, batch, stats, part_present)
            mask = _present_tensors(part_present, batch, device)
        else:
            x, y = empty
        optimizer.zero_grad(set_to_none=True)
        loss, terms = step(x, y, mask, sizes[:, t])
        loss.backward()
        optimizer.step()
        sums += (n_rows / n_total) * torch.stack(list(terms.values())).cpu().numpy()
        if progress is not None:
            progress(done)
    # Reconstruction terms are this rank's rows' share; the others are global.
    sums[:3] = ranks.sum(sums[:3])
    terms = dict(zip(TERMS, sums.tolist()))
    objective = getattr(step, "module", step).objective  # DDP wraps it as .module
    terms["loss"] = (
        sums[:3].sum()
        - objective.correlation_weight * terms["correlation"]
        + objective.ranking_weight * terms["ranking"]
    )
    return terms


def _blocks(n_rows, rows):
    """Row blocks of a pass: slices of all rows, or chunks of sorted ``rows``."""
    if rows is None:
        return [
            slice(start, min(start + INFERENCE_ROWS, n_rows))
            for start in range(0, n_rows, INFERENCE_ROWS)
        ]
    return [
        rows[start : start + INFERENCE_ROWS]
        for start in range(0, len(rows), INFERENCE_ROWS)
    ]


@torch.no_grad()
def map_batches(fn, arrays, stats, consume=None, rows=None, names=None):
    """Apply ``fn`` to standardised row blocks of ``arrays``; concatenate.

    Parameters
    ----------
    fn : callable
        Takes one tensor per array, returns a tensor (or a tuple of tensors).
    arrays : list of array-like, all with the same number of rows
    stats : list of (mean, scale) tensors, one per array; the blocks take
        their dtype and device
    consume : callable, default=None
        If given, called with each block's output (ndarray) instead of
        concatenating them: results of any size are streamed, not kept.
    rows : ndarray of int, default=None
        Sorted rows to use; all rows when None.
    names : list of str or None, default=None
        For each array, a name if its blocks must be checked for NaN and
        infinity as they are read (streamed input no one has validated), or
        None.

    Returns
    -------
    ndarray or tuple of ndarray, in the dtype of ``stats``; None with ``consume``
    """
    names = names or [None] * len(arrays)
    outputs = []
    for block in _blocks(arrays[0].shape[0], rows):
        tensors = [
            to_tensor(read_rows(a, block, name), s)
            for a, s, name in zip(arrays, stats, names)
        ]
        out = fn(*tensors)
        if consume is not None:
            consume(out.cpu().numpy())
            continue
        out = out if isinstance(out, tuple) else (out,)
        outputs.append([o.cpu().numpy() for o in out])
    if consume is not None:
        return None
    result = tuple(np.concatenate(parts) for parts in zip(*outputs))
    return result if len(result) > 1 else result[0]
