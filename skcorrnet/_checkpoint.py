"""Checkpoints of a fit in progress: what is saved, how, and how it is checked.

``CorrNet(checkpoint_path=...)`` writes the whole training state after every
epoch, so that a killed or pre-empted ``fit`` started again with the same data
and parameters resumes where it stopped and, on the CPU with an integer
``random_state``, ends bitwise identical to an uninterrupted fit.

- The file is written to a temporary name beside the target, then moved over
  it with ``os.replace``: a kill during the write leaves the previous
  checkpoint whole.
- It holds tensors and plain Python values only and is read with
  ``torch.load(weights_only=True)``, so opening a checkpoint cannot run code
  (unlike a pickled estimator, which must come from a trusted source).
- A fingerprint of the data (shapes and a hash of a few rows of each rank's
  views) and of the parameters is saved with it; a fit whose fingerprint
  differs is refused, never resumed.
"""

import hashlib
import os
import tempfile

import numpy as np
import torch

from ._data import read_rows

__all__ = ["fingerprint", "load_checkpoint", "save_checkpoint"]

# Parameters that do not change what is trained: a fit may resume with others.
_FREE = ("verbose", "checkpoint_path", "device")
# Rows hashed from the start, the middle and the end of each view.
_SAMPLED_ROWS = 3


def _sampled_rows(n_rows):
    picks = [range(_SAMPLED_ROWS), range(n_rows // 2, n_rows // 2 + _SAMPLED_ROWS),
             range(n_rows - _SAMPLED_ROWS, n_rows)]  # fmt: skip
    return np.unique(np.clip(np.concatenate([list(r) for r in picks]), 0, n_rows - 1))


def fingerprint(X, Y, params):
    """A SHA-1 digest (20 uint8) of the views' shapes, a few rows and ``params``."""
    digest = hashlib.sha1()
    for A in (X, Y):
        digest.update(repr(tuple(A.shape)).encode())
        rows = read_rows(A, _sampled_rows(A.shape[0]))
        dense = rows.toarray() if hasattr(rows, "toarray") else np.asarray(rows)
        digest.update(np.ascontiguousarray(dense, dtype=np.float64).tobytes())
    kept = {k: v for k, v in sorted(params.items()) if k not in _FREE}
    digest.update(repr(kept).encode())
    return np.frombuffer(digest.digest(), dtype=np.uint8).copy()


def _to_saved(value):
    """numpy values as tensors and lists, so ``weights_only`` can read them back."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _to_saved(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_saved(v) for v in value)
    return value


def save_checkpoint(path, state):
    """Write ``state`` to ``path`` atomically (temporary file, then os.replace)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".corrnet-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(_to_saved(state), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def load_checkpoint(path):
    """The state saved at ``path``, or None if there is no file; tensors on the CPU."""
    path = os.fspath(path)
    if not os.path.exists(path):
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file, or one holding code
        raise ValueError(
            f"checkpoint_path={path!r} is not a CorrNet checkpoint that can be read "
            f"safely ({type(exc).__name__}: {exc}). Move it away to start afresh."
        ) from exc
