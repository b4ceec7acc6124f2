"""Minibatch training and batched inference for a CorrNetModule.

Data stay where the caller keeps them (a numpy array, a memmap, a sparse
matrix): each batch's rows are read, converted to float32 and standardised on
the target device (:mod:`._data`), so the memory used beyond the inputs is
O(batch), never a full copy. Streamed views (memmaps, h5py datasets) are read
in shuffled blocks of contiguous rows, so the disk is read sequentially.
"""

import numpy as np
import scipy.sparse as sp
import torch

from ._data import INFERENCE_ROWS, is_streamed, read_rows, row_nbytes, to_tensor
from ._losses import (
    TERMS,
    corrnet_loss,
    pearson_per_unit,
    ranking_loss,
    reconstruction_errors,
    reconstruction_sums,
    same_rows,
)

__all__ = [
    "SOLVERS",
    "evaluate_loss",
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


def _batches(rows, batch_size, rng, paired=None):
    """A shuffled epoch of ``rows`` split into ceil(n / batch_size) near-equal batches.

    An even split means no batch is ever much smaller than the others (a
    trailing batch of one row would carry no correlation signal), and each
    batch holds at most ``batch_size`` rows. Rows are sorted within a batch:
    the loss does not depend on their order, and sorted reads are faster.

    With ``paired`` (a mask over ``rows``; the others have one view only),
    the paired rows are batched as if they were alone, ceil(n_paired /
    batch_size) batches, and the one-view rows are shuffled and spread evenly
    over the same batches. The correlation term is then estimated on as many
    paired rows as without the one-view rows (on fewer it overfits: tried);
    batches hold about ``batch_size / paired fraction`` rows.
    """
    n_batches = -(-len(rows) // batch_size)
    if paired is None:
        groups = [rows]
    else:
        groups = [rows[paired], rows[~paired]]
        # At least one batch: a split may leave no paired training rows.
        n_batches = max(1, -(-int(paired.sum()) // batch_size))
    parts = [
        np.array_split(group[rng.permutation(len(group))], n_batches)
        for group in groups
    ]
    return [np.sort(np.concatenate(batch)) for batch in zip(*parts)]


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
    """The parts of an epoch: ``(X part, Y part, its training rows, its masks)``.

    In-memory views are one part, indexed in place. When either view is
    streamed, the rows are split into contiguous blocks; each part is a
    buffer of ``_BUFFER_BLOCKS`` blocks drawn at random (read in file order,
    so reads are sequential), about ``_BUFFER_BYTES`` in all. Batches are
    shuffled within a buffer: rows far apart in the file meet in a batch when
    their blocks share a buffer, which a fresh draw each epoch varies.
    """
    if not (is_streamed(X) or is_streamed(Y)):
        yield X, Y, rows, present
        return
    n_rows = X.shape[0]
    per_row = row_nbytes(X) + row_nbytes(Y)
    buffer_rows = max(batch_size, int(_BUFFER_BYTES // per_row))
    block_rows = max(1, buffer_rows // _BUFFER_BLOCKS)
    starts = np.arange(0, n_rows, block_rows)
    training = np.zeros(n_rows, dtype=bool)
    training[rows] = True
    order = rng.permutation(len(starts))
    for group in np.array_split(order, -(-len(starts) // _BUFFER_BLOCKS)):
        blocks = [slice(s, min(s + block_rows, n_rows)) for s in starts[np.sort(group)]]
        index = np.concatenate([np.arange(b.start, b.stop) for b in blocks])
        local = np.flatnonzero(training[index])
        if not len(local):
            continue
        yield (
            _concat([read_rows(X, b) for b in blocks]),
            _concat([read_rows(Y, b) for b in blocks]),
            local,
            None if present is None else tuple(mask[index] for mask in present),
        )


def train_epoch(
    module, optimizer, X, Y, rows, stats, batch_size, objective, rng, present=None
):
    """One pass over ``rows`` of (X, Y); returns the row-weighted mean terms.

    Parameters
    ----------
    X, Y : ndarray, streamed array, CSR matrix, or tensor staged on the device
    rows : ndarray of int
        The rows of X and Y to train on (the others may be held out).
    stats : tuple of ((x_mean, x_scale), (y_mean, y_scale))
        Standardisation tensors, on the module's device and in its dtype; a
        mean of None leaves the view uncentred.
    batch_size : int
    objective : Objective
    rng : numpy.random.RandomState
        Drives the shuffling.
    present : tuple of two bool ndarrays over all rows of X, default=None
        Which rows have their x view and which their y view (the missing
        view's values are NaN); None when every row is paired.

    Returns
    -------
    dict of str to float
        ``loss`` and each of :data:`TERMS`, averaged over the epoch's rows.
    """
    module.train()
    n_rows = len(rows)
    device = stats[0][1].device
    sums = dict.fromkeys(("loss", *TERMS), 0.0)
    parts = _epoch_parts(X, Y, rows, batch_size, rng, present)
    for X_part, Y_part, part_rows, part_present in parts:
        paired = None
        if part_present is not None:
            paired = (part_present[0] & part_present[1])[part_rows]
        for batch in _batches(part_rows, batch_size, rng, paired):
            x, y = _batch_tensors(X_part, Y_part, batch, stats, part_present)
            mask = _present_tensors(part_present, batch, device)
            optimizer.zero_grad(set_to_none=True)
            loss, terms = corrnet_loss(module, x, y, objective, mask)
            loss.backward()
            optimizer.step()
            weight = len(batch) / n_rows
            sums["loss"] += weight * loss.item()
            for name, value in terms.items():
                sums[name] += weight * value.item()
    return sums


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


@torch.no_grad()
def evaluate_loss(module, X, Y, stats, objective, batch_size, present=None, rows=None):
    """The CorrNet loss over ``rows`` (default all) of (X, Y), without gradient.

    Reconstruction errors are averaged over the rows and the correlation term
    is computed on all paired rows at once, so neither depends on the batch
    size; the ranking term, an in-batch loss, is averaged over consecutive
    batches of ``batch_size`` paired rows, as in training. Rows are read in
    blocks by index: held-out rows are never copied as a whole.
    """
    module.eval()
    device = stats[0][1].device
    recon, latents = [], []
    n_rows = X.shape[0] if rows is None else len(rows)
    for block in _blocks(X.shape[0], rows):
        x, y = _batch_tensors(X, Y, block, stats, present)
        mask = _present_tensors(present, block, device)
        hx, hy, hxy = module(x, y)
        sums, paired = reconstruction_sums(
            *reconstruction_errors(module, x, y, (hxy, hx, hy)), mask
        )
        recon.append(sums.sum())
        latents.append((hx, hy) if paired is None else (hx[paired], hy[paired]))
    hx = torch.cat([h for h, _ in latents])
    hy = torch.cat([h for _, h in latents])
    loss = float(sum(recon)) / n_rows
    if hx.shape[0]:
        loss -= objective.correlation_weight * float(pearson_per_unit(hx, hy).sum())
    if objective.ranking_weight > 0 and hx.shape[0] > 1:
        chunks = torch.split(torch.arange(hx.shape[0]), batch_size)
        ranking = [
            len(c)
            * ranking_loss(
                hx[c],
                hy[c],
                objective.ranking_loss,
                objective.ranking_temperature,
                objective.ranking_margin,
                same_rows(hx[c]),  # identical latents stand for identical inputs
                same_rows(hy[c]),
            )
            for c in chunks
        ]
        loss += objective.ranking_weight * float(sum(ranking)) / hx.shape[0]
    return loss
