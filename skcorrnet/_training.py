"""Minibatch training and batched inference for a CorrNetModule.

Data stay where the caller keeps them (a numpy array, a memmap): each batch's
rows are sliced, converted to float32 and standardised on the target device, so
the memory used beyond the inputs is O(batch), never a full copy as a tensor.
"""

import numpy as np
import torch

from ._losses import TERMS, corrnet_loss, pearson_per_unit, reconstruction_errors

__all__ = [
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


def column_moments(X, moments=(0, 0.0, 0.0)):
    """Row count, column means and sums of squared deviations of X.

    Streamed over blocks of rows in float64 and merged into ``moments`` (those
    of earlier data) with Chan et al.'s pairwise update, so no float64 copy of
    X is made and chunks of a stream can be accumulated.

    Returns
    -------
    (n_rows, mean, m2) : tuple of (int, ndarray, ndarray)
    """
    n_total, mean, m2 = moments
    for start in range(0, X.shape[0], INFERENCE_ROWS):
        block = np.asarray(X[start : start + INFERENCE_ROWS], dtype=np.float64)
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
    """Rows of X as a standardised tensor, in the dtype and on the device of ``stats``."""
    mean, scale = stats
    block = torch.from_numpy(np.ascontiguousarray(X[rows]))
    block = block.to(device=mean.device, dtype=mean.dtype, non_blocking=True)
    return (block - mean) / scale


def make_optimizer(solver, params, learning_rate):
    """The torch optimiser named by the estimator's ``solver``."""
    return SOLVERS[solver](params, lr=learning_rate)


def _batches(rows, batch_size, rng):
    """A shuffled epoch of ``rows`` split into ceil(n / batch_size) near-equal batches.

    An even split means no batch is ever much smaller than the others (a
    trailing batch of one row would carry no correlation signal), and each
    batch holds at most ``batch_size`` rows. Rows are sorted within a batch:
    the loss does not depend on their order, and sorted reads are faster.
    """
    order = rows[rng.permutation(len(rows))]
    n_batches = -(-len(rows) // batch_size)
    return [np.sort(part) for part in np.array_split(order, n_batches)]


def train_epoch(
    module, optimizer, X, Y, rows, stats, batch_size, correlation_weight, rng
):
    """One pass over ``rows`` of (X, Y); returns the row-weighted mean terms.

    Parameters
    ----------
    rows : ndarray of int
        The rows of X and Y to train on (the others may be held out).
    stats : tuple of ((x_mean, x_scale), (y_mean, y_scale))
        Standardisation tensors, on the module's device and in its dtype.
    rng : numpy.random.RandomState
        Drives the shuffling.

    Returns
    -------
    dict of str to float
        ``loss`` and each of :data:`TERMS`, averaged over the epoch's rows.
    """
    x_stats, y_stats = stats
    module.train()
    n_rows = len(rows)
    sums = dict.fromkeys(("loss", *TERMS), 0.0)
    for batch in _batches(rows, batch_size, rng):
        x = _tensor(X, batch, x_stats)
        y = _tensor(Y, batch, y_stats)
        optimizer.zero_grad(set_to_none=True)
        loss, terms = corrnet_loss(module, x, y, correlation_weight)
        loss.backward()
        optimizer.step()
        weight = len(batch) / n_rows
        sums["loss"] += weight * loss.item()
        for name, value in terms.items():
            sums[name] += weight * value.item()
    return sums


@torch.no_grad()
def map_batches(fn, arrays, stats):
    """Apply ``fn`` to standardised row blocks of ``arrays``; concatenate.

    Parameters
    ----------
    fn : callable
        Takes one tensor per array, returns a tensor (or a tuple of tensors).
    arrays : list of array-like, all with the same number of rows
    stats : list of (mean, scale) tensors, one per array; the blocks take
        their dtype and device

    Returns
    -------
    ndarray or tuple of ndarray, in the dtype of ``stats``
    """
    n_rows = arrays[0].shape[0]
    outputs = []
    for start in range(0, n_rows, INFERENCE_ROWS):
        rows = slice(start, start + INFERENCE_ROWS)
        out = fn(*(_tensor(a, rows, s) for a, s in zip(arrays, stats)))
        out = out if isinstance(out, tuple) else (out,)
        outputs.append([o.cpu().numpy() for o in out])
    result = tuple(np.concatenate(parts) for parts in zip(*outputs))
    return result if len(result) > 1 else result[0]


@torch.no_grad()
def evaluate_loss(module, X, Y, stats, correlation_weight):
    """The CorrNet loss over all rows of (X, Y) at once (no gradient).

    Reconstruction errors are averaged over the rows; the correlation term is
    computed on the whole set, not per batch, so the figure does not depend on
    the batch size.
    """
    x_stats, y_stats = stats
    module.eval()

    def per_row(x, y):
        hx, hy, hxy = module(x, y)
        return reconstruction_errors(module, x, y, (hxy, hx, hy)), hx, hy

    recon, hx, hy = map_batches(per_row, [X, Y], [x_stats, y_stats])
    correlation = pearson_per_unit(torch.from_numpy(hx), torch.from_numpy(hy)).sum()
    return float(recon.mean(axis=0).sum() - correlation_weight * correlation)
