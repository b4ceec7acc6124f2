"""Closed-form, ridge-regularised linear CCA (Hotelling 1936) in numpy.

Used to rotate CorrNet's latent units into ordered canonical variates
(``CorrNet(canonical=True)``), by :func:`skcorrnet.metrics.total_correlation`
(the Deep-CCA evaluation protocol), and as a competitor in ``benchmarks/``.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils.extmath import svd_flip

__all__ = ["LinearCCA", "fit_linear_cca"]

# Relative ridge added to each covariance: a fraction of its mean eigenvalue, so
# the whitening is defined for constant or collinear columns (rank-deficient
# covariances) and is invariant to the overall scale of the data.
DEFAULT_REG = 1e-4
# Absolute floor, so that an all-constant view still gives finite weights.
_TINY = 1e-12
# Eigenvalues below this fraction of the largest are numerically zero: the
# directions of a collinear (or constant) set of columns.
_NULL = 1e-10


@dataclass(frozen=True)
class LinearCCA:
    """A fitted linear CCA: ``(A - mean_a) @ weights_a`` are the variates of A.

    Attributes
    ----------
    mean_a, mean_b : ndarray of shape (n_features_a,), (n_features_b,)
    weights_a, weights_b : ndarray of shape (n_features_a, k), (n_features_b, k)
    correlations : ndarray of shape (k,)
        Regularised canonical correlations, non-increasing, in [0, 1].
    """

    mean_a: np.ndarray
    mean_b: np.ndarray
    weights_a: np.ndarray
    weights_b: np.ndarray
    correlations: np.ndarray

    def transform(self, A, B):
        """Canonical variates of A and B, each of shape (n_samples, k)."""
        return (A - self.mean_a) @ self.weights_a, (B - self.mean_b) @ self.weights_b


def _inv_sqrt(cov, reg, invertible):
    """Symmetric inverse square root of ``cov + ridge * I``.

    Unless ``invertible``, directions in the numerical null space of ``cov``
    get zero weight (a pseudo-inverse), so that collinear columns cannot turn
    roundoff into spurious components.
    """
    d = cov.shape[0]
    evals, evecs = np.linalg.eigh(cov)
    ridge = reg * max(np.trace(cov) / d, 0.0) + _TINY
    inv_sqrt = 1.0 / np.sqrt(np.maximum(evals, 0.0) + ridge)
    if not invertible:
        inv_sqrt[evals <= _NULL * max(evals.max(), 0.0)] = 0.0
    return (evecs * inv_sqrt) @ evecs.T


def fit_linear_cca(A, B, n_components=None, reg=DEFAULT_REG, invertible=False):
    """Fit a linear CCA between the columns of A and B in closed form.

    Parameters
    ----------
    A : ndarray of shape (n_samples, n_features_a)
    B : ndarray of shape (n_samples, n_features_b)
    n_components : int, default=None
        Number of canonical pairs; ``min(n_features_a, n_features_b)`` if None.
    reg : float, default=1e-4
        Ridge added to each view's covariance, relative to its mean eigenvalue.
    invertible : bool, default=False
        Keep the weight matrices invertible (square case), as a rotation of
        the data must be; otherwise null-space directions get zero weight.

    Returns
    -------
    cca : LinearCCA
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    n = A.shape[0]
    k_max = min(A.shape[1], B.shape[1])
    k = k_max if n_components is None else min(n_components, k_max)
    mean_a, mean_b = A.mean(axis=0), B.mean(axis=0)
    Ac, Bc = A - mean_a, B - mean_b
    denom = max(n - 1, 1)
    wa = _inv_sqrt(Ac.T @ Ac / denom, reg, invertible)
    wb = _inv_sqrt(Bc.T @ Bc / denom, reg, invertible)
    # SVD of the whitened cross-covariance: singular values are the canonical
    # correlations, singular vectors the whitened canonical directions.
    u, s, vt = np.linalg.svd(wa @ (Ac.T @ Bc / denom) @ wb, full_matrices=False)
    u, vt = svd_flip(u, vt)
    return LinearCCA(
        mean_a=mean_a,
        mean_b=mean_b,
        weights_a=wa @ u[:, :k],
        weights_b=wb @ vt[:k].T,
        correlations=np.clip(s[:k], 0.0, 1.0),
    )
