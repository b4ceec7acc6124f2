"""Minibatch training and batched inference for a CorrNetModule.

Data stay where the caller keeps them (a numpy array, a memmap): each batch's
rows are sliced, converted to float32 and standardised on the target device, so
the memory used beyond the inputs is O(batch), never a full copy as a tensor.
"""

import numpy as np
import torch

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
    "INFERENCE_ROWS",
    "SOLVERS",
    "column_moments",
    "evaluate_loss",
    "make_optimizer",
    "map_batches",
    "moments_std",
    "resolve_device",
    "train_epoch",
]

SOLVERS = {
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,  # the original CorrNet's optimiser
    "sgd": torch.optim.SGD,
}

# Rows per block when a pass needs no gradient (statistics, inference): large
# enough to amortise per-call overhead, small enough to bound the memory used.
INFERENCE_ROWS = 4096


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


def column_moments(X, moments=(0, 0.0, 0.0), rows=None):
    """Row count, column means and sums of squared deviations of X.

    Streamed over blocks of rows in float64 and merged into ``moments`` (those
    of earlier data) with Chan et al.'s pairwise update, so no float64 copy of
    X is made and chunks of a stream can be accumulated. ``rows`` (indices)
    restricts the statistics to those rows, e.g. the rows where a view is
    present.

    Returns
    -------
    (n_rows, mean, m2) : tuple of (int, ndarray, ndarray)
    """
    n_total, mean, m2 = moments
    n_rows = X.shape[0] if rows is None else len(rows)
    for start in range(0, n_rows, INFERENCE_ROWS):
        block = slice(start, start + INFERENCE_ROWS)
        block = np.asarray(X[block if rows is None else rows[block]], dtype=np.float64)
        n_b = block.shape[0]
        mean_b = block.mean(axis=0)
        m2_b = ((block - mean_b) ** 2).sum(axis=0)
        delta = mean_b - mean
        n_new = n_total + n_b
        mean = mean + delta * (n_b / n_new)
        m2 = m2 + m2_b + delta**2 * (n_total * n_b / n_new)
        n_total = n_new
    return n_total, mean, m2


def moments_std(moments):
    """Standard deviations (ddof=1) from :func:`column_moments`.

    Columns with zero (or float32-negligible) variance get 1, so that scaling
    never divides by zero.
    """
    n_rows, mean, m2 = moments
    std = np.sqrt(m2 / max(n_rows - 1, 1))
    std[~(std > np.finfo(np.float32).eps * np.maximum(1.0, np.abs(mean)))] = 1.0
    return std


def _tensor(X, rows, stats):
    """Rows of X, standardised, in the dtype and on the device of ``stats``."""
    mean, scale = stats
    block = torch.from_numpy(np.ascontiguousarray(X[rows]))
    block = block.to(device=mean.device, dtype=mean.dtype, non_blocking=True)
    return (block - mean) / scale


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


def _batch_tensors(X, Y, rows, stats, present):
    """Standardised rows of both views; a missing view's NaNs become zeros."""
    x, y = _tensor(X, rows, stats[0]), _tensor(Y, rows, stats[1])
    if present is not None:
        x, y = torch.nan_to_num(x, nan=0.0), torch.nan_to_num(y, nan=0.0)
    return x, y


def train_epoch(
    module, optimizer, X, Y, rows, stats, batch_size, objective, rng, present=None
):
    """One pass over ``rows`` of (X, Y); returns the row-weighted mean terms.

    Parameters
    ----------
    rows : ndarray of int
        The rows of X and Y to train on (the others may be held out).
    stats : tuple of ((x_mean, x_scale), (y_mean, y_scale))
        Standardisation tensors, on the module's device and in its dtype.
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
    device = stats[0][0].device
    paired = None if present is None else (present[0] & present[1])[rows]
    sums = dict.fromkeys(("loss", *TERMS), 0.0)
    for batch in _batches(rows, batch_size, rng, paired):
        x, y = _batch_tensors(X, Y, batch, stats, present)
        optimizer.zero_grad(set_to_none=True)
        loss, terms = corrnet_loss(
            module, x, y, objective, _present_tensors(present, batch, device)
        )
        loss.backward()
        optimizer.step()
        weight = len(batch) / n_rows
        sums["loss"] += weight * loss.item()
        for name, value in terms.items():
            sums[name] += weight * value.item()
    return sums


@torch.no_grad()
def map_batches(fn, arrays, stats, consume=None):
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

    Returns
    -------
    ndarray or tuple of ndarray, in the dtype of ``stats``; None with ``consume``
    """
    n_rows = arrays[0].shape[0]
    outputs = []
    for start in range(0, n_rows, INFERENCE_ROWS):
        rows = slice(start, start + INFERENCE_ROWS)
        out = fn(*(_tensor(a, rows, s) for a, s in zip(arrays, stats)))
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
def evaluate_loss(module, X, Y, stats, objective, batch_size, present=None):
    """The CorrNet loss over all rows of (X, Y) (no gradient).

    Reconstruction errors are averaged over the rows and the correlation term
    is computed on all paired rows at once, so neither depends on the batch
    size; the ranking term, an in-batch loss, is averaged over consecutive
    batches of ``batch_size`` paired rows, as in training.
    """
    module.eval()
    device = stats[0][0].device
    recon, latents = [], []
    for start in range(0, X.shape[0], INFERENCE_ROWS):
        rows = np.arange(start, min(start + INFERENCE_ROWS, X.shape[0]))
        x, y = _batch_tensors(X, Y, rows, stats, present)
        mask = _present_tensors(present, rows, device)
        hx, hy, hxy = module(x, y)
        sums, paired = reconstruction_sums(
            *reconstruction_errors(module, x, y, (hxy, hx, hy)), mask
        )
        recon.append(sums.sum())
        latents.append((hx, hy) if paired is None else (hx[paired], hy[paired]))
    hx = torch.cat([h for h, _ in latents])
    hy = torch.cat([h for _, h in latents])
    loss = float(sum(recon)) / X.shape[0]
    if hx.shape[0]:
        loss -= objective.correlation_weight * float(pearson_per_unit(hx, hy).sum())
    if objective.ranking_weight > 0 and hx.shape[0] > 1:
        chunks = torch.split(torch.arange(hx.shape[0]), batch_size)
        ranking = [
            len(c) * ranking_loss(
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
