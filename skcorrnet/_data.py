"""How a view's rows are checked, summarised and read, whatever holds them.

A view is one of:

- an in-memory numpy array (validated by :func:`sklearn.utils.check_array`);
- a *streamed* array: an ``np.memmap`` or any 2-d array-like with ``shape``,
  a numpy ``dtype`` and row slicing (an h5py dataset, a zarr array). It is
  never converted as a whole: rows are read in blocks and converted per block;
- a ``scipy.sparse`` matrix, kept in CSR form; its rows reach the network as
  torch sparse tensors, so the first layer multiplies sparsely. Sparse views are
  scaled but not centred (centring would densify them), as
  ``StandardScaler(with_mean=False)`` does.

A view's statistics, its finiteness and its missing rows are found in one pass
over its rows (:func:`scan_view`), so validating a memmap costs no extra read.
"""

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.sparsefuncs import mean_variance_axis

__all__ = [
    "BLOCK_ROWS",
    "ViewScan",
    "check_streamed",
    "is_streamed",
    "merge_moments",
    "moments_spread",
    "moments_std",
    "output_dtype",
    "read_rows",
    "row_blocks",
    "row_nbytes",
    "scan_view",
    "stage_on_device",
    "to_tensor",
]

# Rows per block when a pass needs no gradient (statistics, moments,
# inference): large enough to amortise per-call overhead, small enough to bound
# the memory used.
BLOCK_ROWS = 4096

# Fraction of the free GPU memory that in-memory training data may take to be
# copied to the GPU once (the rest is left for the network and its batches).
_RESIDENT_FRACTION = 0.5


def is_streamed(A):
    """Whether A is read in row blocks: a memmap or a 2-d non-numpy array-like.

    h5py datasets, zarr and dask arrays qualify (a numpy ``dtype``, ``shape``
    and ``ndim == 2``); lists, pandas objects and tensors do not, and go
    through :func:`sklearn.utils.check_array` as usual.
    """
    if isinstance(A, np.memmap):
        return A.ndim == 2
    if isinstance(A, np.ndarray) or sp.issparse(A) or hasattr(A, "iloc"):
        return False
    return (
        isinstance(getattr(A, "dtype", None), np.dtype)
        and getattr(A, "ndim", None) == 2
        and hasattr(A, "__getitem__")
    )


def check_streamed(A, name, min_rows=1):
    """Check what can be checked of a streamed view without reading it."""
    n_rows, n_cols = A.shape
    if A.dtype.kind not in "biuf":
        raise ValueError(f"{name} has dtype {A.dtype}; CorrNet needs numbers.")
    if n_rows < min_rows:
        raise ValueError(
            f"Found array with {n_rows} sample(s) (shape={A.shape}) while a "
            f"minimum of {min_rows} is required."
        )
    if n_cols < 1:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={A.shape}) while a minimum "
            "of 1 is required."
        )
    return A


def row_blocks(n_rows, rows=None):
    """The row blocks of a pass: slices of all ``n_rows`` rows, or chunks of
    the sorted indices ``rows``, :data:`BLOCK_ROWS` at a time."""
    if rows is None:
        return [
            slice(start, min(start + BLOCK_ROWS, n_rows))
            for start in range(0, n_rows, BLOCK_ROWS)
        ]
    return [
        rows[start : start + BLOCK_ROWS] for start in range(0, len(rows), BLOCK_ROWS)
    ]


def output_dtype(A):
    """float32 for float32 input, float64 otherwise (as scikit-learn does)."""
    return np.float32 if A.dtype == np.float32 else np.float64


def row_nbytes(A):
    """Bytes per row of a view once read (stored nonzeros for sparse views)."""
    if sp.issparse(A):
        return 12 * A.nnz / max(A.shape[0], 1) + 8  # value, index, pointer
    return np.dtype(A.dtype).itemsize * A.shape[1]


def read_rows(A, rows, name=None):
    """Rows of A (a slice, or sorted indices) as a numpy or CSR block.

    With ``name``, the block is checked for NaN and infinity: inference on a
    streamed view validates each block as it reads it.
    """
    block = A[rows]
    if sp.issparse(block):
        return block.tocsr()
    block = np.asarray(block)
    if name is not None:
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            first = np.flatnonzero(~finite)[0]
            row = rows.start + first if isinstance(rows, slice) else rows[first]
            raise ValueError(f"Input {name} contains NaN or infinity (row {row}).")
    return block


def _clipped(tensor, bound):
    """``tensor`` clipped to ``[-bound, bound]`` (per column); None: as is."""
    return tensor if bound is None else torch.clamp(tensor, -bound, bound)


def _sparse_tensor(block, scale, bound):
    """A CSR block as a torch sparse CSR tensor, columns divided by ``scale``
    and clipped to ``[-bound, bound]``."""
    device, dtype = scale.device, scale.dtype
    indices = torch.from_numpy(block.indices.astype(np.int64)).to(device)
    values = torch.from_numpy(block.data).to(device=device, dtype=dtype)
    values = _clipped(values / scale[indices], None if bound is None else bound[indices])
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(block.indptr.astype(np.int64)).to(device),
            indices,
            values,
            size=block.shape,
            check_invariants=False,  # scipy's CSR is valid by construction
        )


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def to_tensor(block, stats):
    """A block of rows, standardised, in the dtype and on the device of ``stats``.

    ``stats`` is ``(mean, scale, bound)``: the block becomes
    ``(block - mean) / scale`` clipped to ``[-bound, bound]`` column by column;
    ``mean`` is None for a view that is not centred, ``bound`` None for no
    clipping. A sparse block of an uncentred view stays sparse; any other
    block is made dense. A numpy block is pinned before a non-blocking copy
    to a GPU.
    """
    mean, scale, bound = stats
    if torch.is_tensor(block):  # already on the device (stage_on_device)
        tensor = block.to(dtype=scale.dtype)
    else:
        if sp.issparse(block):
            if mean is None:
                return _sparse_tensor(block, scale, bound)
            block = block.toarray()
        target = np.float32 if scale.dtype == torch.float32 else np.float64
        block = np.ascontiguousarray(block, dtype=target)
        if not block.flags.writeable:  # a read-only memmap: torch wants to own it
            block = block.copy()
        tensor = torch.from_numpy(block)
        if scale.device.type == "cuda":
            tensor = tensor.pin_memory()
        tensor = tensor.to(scale.device, non_blocking=True)
    centred = tensor if mean is None else tensor - mean
    return _clipped(centred / scale, bound)


def stage_on_device(A, device):
    """A view as one float32 tensor on a GPU, when it fits.

    In-memory dense arrays are copied to the GPU once, and batches are then
    gathered there; streamed and sparse views, views too large for half the
    free GPU memory, and every view on the CPU are returned unchanged (their
    batches are read, pinned and copied one at a time).
    """
    if device.type != "cuda" or not isinstance(A, np.ndarray) or is_streamed(A):
        return A
    free, _ = torch.cuda.mem_get_info(device)
    if A.size * 4 > _RESIDENT_FRACTION * free:
        return A
    return torch.from_numpy(A).to(device=device, dtype=torch.float32)


class ViewScan:
    """What one pass over a view's rows found.

    Attributes
    ----------
    moments : tuple of (int, ndarray, ndarray)
        Row count, column means and sums of squared deviations of the rows
        without NaN.
    missing : ndarray of bool or None
        Rows that are entirely NaN (None when NaN is not allowed).
    partial : ndarray of bool or None
        Rows that are partly NaN (None when NaN is not allowed).
    """

    def __init__(self, moments, missing=None, partial=None):
        self.moments = moments
        self.missing = missing
        self.partial = partial


def merge_moments(a, b):
    """Chan et al.'s pairwise merge of two ``(count, mean, M2)`` summaries.

    M2 holds the sums of squared deviations of each column (a vector) or the
    sums of cross-products of deviations (a matrix).
    """
    n_a, mean_a, m2_a = a
    n_b, mean_b, m2_b = b
    if n_b == 0:
        return a
    if n_a == 0:
        return b
    delta = mean_b - mean_a
    n = n_a + n_b
    spread = np.multiply.outer(delta, delta) if np.ndim(m2_b) == 2 else delta**2
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + spread * (n_a * n_b / n)


def _check_float32_range(values, name, first_row=None):
    """Refuse finite values that float32, in which the network trains, cannot hold."""
    with np.errstate(invalid="ignore"):
        beyond = np.abs(values) > _FLOAT32_MAX
    if beyond.any():
        where = ""
        if first_row is not None:
            where = f" (row {first_row + np.argwhere(beyond)[0][0]})"
        raise ValueError(
            f"Input {name} has values beyond float32's range (±{_FLOAT32_MAX:.3g})"
            f"{where}; CorrNet trains in float32: rescale the view."
        )


def scan_view(A, name, allow_nan=False, check=False):
    """Statistics, finiteness and missing rows of a view, in one pass.

    Dense views are read in blocks of :data:`BLOCK_ROWS` rows converted to
    float64 (no float64 copy of the view is made); sparse views use their
    stored values.

    Parameters
    ----------
    A : ndarray, streamed array or CSR matrix
    name : str
        "X" or "y", for error messages.
    allow_nan : bool, default=False
        Whether NaN marks missing rows (then ``missing`` and ``partial`` are
        returned and rows with NaN are left out of the moments); infinity is
        always an error.
    check : bool, default=False
        Whether to raise on NaN or infinity (for streamed views, which
        ``check_array`` has not seen).

    Returns
    -------
    ViewScan
    """
    if sp.issparse(A):
        if allow_nan and np.isnan(A.data).any():
            raise ValueError(
                f"{name} is sparse and contains NaN: missing views must be dense "
                "rows of NaN."
            )
        _check_float32_range(A.data, name)
        mean, var = mean_variance_axis(A, axis=0)
        n = A.shape[0]
        moments = (n, mean.astype(np.float64), var * float(n))
        if not allow_nan:
            return ViewScan(moments)
        none = np.zeros(n, dtype=bool)
        return ViewScan(moments, none, none)
    missing, partial, moments = [], [], (0, 0.0, 0.0)
    for rows in row_blocks(A.shape[0]):
        start = rows.start
        block = np.asarray(A[rows], dtype=np.float64)
        if check or allow_nan:
            nan = np.isnan(block)
            bad = np.isinf(block).any(axis=1)
            if not allow_nan:
                bad |= nan.any(axis=1)
            if bad.any():
                row = start + np.flatnonzero(bad)[0]
                kind = "infinity" if np.isinf(block[row - start]).any() else "NaN"
                raise ValueError(f"Input {name} contains {kind} (row {row}).")
            if allow_nan:
                n_nan = nan.sum(axis=1)
                missing.append(n_nan == A.shape[1])
                partial.append((n_nan > 0) & (n_nan < A.shape[1]))
                block = block[n_nan == 0]
        _check_float32_range(block, name, start)
        mean_b = block.mean(axis=0) if block.shape[0] else 0.0
        m2_b = ((block - mean_b) ** 2).sum(axis=0)
        moments = merge_moments(moments, (block.shape[0], mean_b, m2_b))
    if not allow_nan:
        return ViewScan(moments)
    return ViewScan(moments, np.concatenate(missing), np.concatenate(partial))


def moments_spread(moments):
    """Standard deviations (ddof=1) from :func:`scan_view`'s moments, 0 for a
    constant column."""
    n_rows, _, m2 = moments
    return np.sqrt(m2 / max(n_rows - 1, 1))


def moments_std(moments):
    """Scaling statistics: :func:`moments_spread`, where columns with zero (or
    float32-negligible) variance get 1, so that scaling never divides by zero.
    """
    mean = moments[1]
    std = moments_spread(moments)
    std[~(std > np.finfo(np.float32).eps * np.maximum(1.0, np.abs(mean)))] = 1.0
    return std
