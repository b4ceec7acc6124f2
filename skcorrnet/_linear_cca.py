"""Closed-form, ridge-regularised linear CCA (Hotelling 1936) in numpy.

Used to rotate CorrNet's latent units into ordered canonical variates
(``CorrNet(canonical=True)``), by :func:`skcorrnet.metrics.total_correlation`
(the Deep-CCA evaluation protocol), and as a competitor in ``benchmarks/``.
"""

import functools
from dataclasses import dataclass

import numpy as np
from sklearn.utils.extmath import svd_flip

from ._data import merge_moments, row_blocks

__all__ = [
    "PLS_RIDGES",
    "RIDGES",
    "JointMoments",
    "LinearCCA",
    "choose_ridge",
    "fit_linear_cca",
    "fit_linear_cca_from_moments",
    "held_out_correlations",
    "held_out_total_correlation",
    "in_columns",
    "row_space",
    "row_spaces",
    "solvable_in_row_space",
]

# Relative ridge added to each covariance: a fraction of its mean eigenvalue
# (over the directions the rows span, see _ridge), so the whitening is defined
# for constant or collinear columns (rank-deficient covariances) and is
# invariant to the overall scale of the data.
DEFAULT_REG = 1e-4
# Ridges tried when CorrNet chooses its linear start's ridge by K-fold CV.
RIDGES = (1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 0.3, 1.0)
# Larger ridges, towards PLS (whose directions ignore the within-view
# covariance), that the CV may go on to when no training follows the start;
# see choose_ridge.
PLS_RIDGES = (3.0, 10.0, 100.0, 1e4)
# Absolute floor, so that an all-constant view still gives finite weights.
_TINY = 1e-12
# Eigenvalues below this fraction of the largest are numerically zero: the
# directions of a collinear (or constant) set of columns.
_NULL = 1e-10
# A view wider than the rows is solved in the span of its rows (by
# fit_linear_cca, and CorrNet's linear start) when the two views hold at most
# this many values (a float64 copy is made); CorrNet's start in principal
# directions samples at most this many values too.
_MAX_ROW_SPACE_VALUES = 2**25
# Weights below this fraction of the largest column's are roundoff (see
# _roundoff_columns): far below sqrt(_NULL), far above machine epsilon.
_ROUNDOFF = 1e-8


class JointMoments:
    """Running mean and covariance of the columns of row blocks, in float64.

    Blocks are shifted by the first block's mean before the sums of products
    are accumulated, so the covariance does not suffer from cancellation when
    the mean is large; memory is O(block + d^2), whatever the number of rows.
    """

    def __init__(self):
        self.n_rows = 0
        self._shift = self._sum = self._outer = None

    def update(self, block):
        """Add the rows of ``block`` (n_rows, d)."""
        block = np.asarray(block, dtype=np.float64)
        if self._shift is None:
            self._shift = block.mean(axis=0)
            self._sum = np.zeros_like(self._shift)
            self._outer = np.zeros((block.shape[1], block.shape[1]))
        centred = block - self._shift
        self.n_rows += block.shape[0]
        self._sum += centred.sum(axis=0)
        self._outer += centred.T @ centred

    def summary(self):
        """``(n_rows, mean, scatter)``, scatter being the sums of cross-products
        of deviations from the mean (what :func:`._data.merge_moments` merges).
        """
        mean = self._sum / self.n_rows
        scatter = self._outer - self.n_rows * np.outer(mean, mean)
        return self.n_rows, mean + self._shift, scatter

    @classmethod
    def from_summary(cls, n_rows, mean, scatter):
        """The moments of :meth:`summary`'s values (e.g. merged over processes)."""
        moments = cls()
        moments.n_rows = n_rows
        moments._shift = np.asarray(mean, dtype=np.float64)
        moments._sum = np.zeros_like(moments._shift)
        moments._outer = np.asarray(scatter, dtype=np.float64)
        return moments

    def mean_cov(self):
        """Column means and covariance matrix (ddof=1)."""
        n_rows, mean, scatter = self.summary()
        return mean, scatter / max(n_rows - 1, 1)


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


def _eig(cov):
    """Eigen-decomposition of a covariance, reused for every ridge."""
    return np.linalg.eigh(cov)


def _null(evals):
    """Which eigenvalues are numerically zero: directions of a collinear or
    constant set of columns, or beyond the rank of fewer rows than columns."""
    return evals <= _NULL * max(evals.max(), 0.0)


def _ridge(evals, reg, n_rows):
    """``reg`` times the mean of a covariance's eigenvalues ``evals`` over at
    most ``n_rows - 1`` of them (its ``n_rows`` rows span no more).

    For a view wider than that, the mean over its width would be diluted by
    the zeros of directions the rows do not span, so the same ``reg`` would
    regularise a wider view less, and appending columns the rows cannot
    tell apart would change the fit. So the mean is over the rows' share of
    directions: the view's own mean eigenvalue when it is narrower than the
    rows, and the same whether a wider view is given in its columns or in
    coordinates of its rows' span (:func:`row_space`).
    """
    spanned = min(evals.size, max(n_rows - 1, 1))
    return reg * max(evals.sum() / spanned, 0.0) + _TINY


def _inv_sqrt(eig, reg, invertible, n_rows):
    """Symmetric inverse square root of ``cov + ridge * I``, from ``_eig(cov)``
    of ``n_rows`` rows (the ridge: :func:`_ridge`).

    Unless ``invertible``, directions in the numerical null space of ``cov``
    get zero weight (a pseudo-inverse), so that collinear columns cannot turn
    roundoff into spurious components.
    """
    evals, evecs = eig
    inv_sqrt = 1.0 / np.sqrt(np.maximum(evals, 0.0) + _ridge(evals, reg, n_rows))
    if not invertible:
        inv_sqrt[_null(evals)] = 0.0
    return (evecs * inv_sqrt) @ evecs.T


def _roundoff_columns(weights):
    """Columns of canonical weights that only roundoff made non-zero.

    With fewer independent columns than pairs, the extra pairs' directions
    lie in the null space that :func:`_inv_sqrt` zeroes: their weights are
    about 1e-16 of the others', and the correlation of the variates they
    give is that of roundoff, which depends on the BLAS (seen: 2.4 instead
    of 0 for 5 copies of one column). A real direction's weights are at
    least ``sqrt(_NULL)`` of the largest.
    """
    norms = np.linalg.norm(weights, axis=0)
    return norms <= _ROUNDOFF * norms.max(initial=0.0)


def row_space(A):
    """``A`` (rows by columns) in coordinates of an orthonormal basis Q of
    the span of its rows: ``(A @ Q, Q)``, Q of shape (n_columns, rank).

    A CCA that gives null-space directions no weight (``invertible=False``)
    and whose ridge is relative to the mean eigenvalue over the directions
    the rows span (:func:`_ridge`) is the same in these coordinates, for
    rows in general position: every mean, covariance
    and weight vector of these rows lies in that span, and weights W there
    are Q W in the columns. For a view wider than its rows, each
    eigen-decomposition then costs the rank, not the width.
    """
    u, s, vt = np.linalg.svd(A, full_matrices=False)
    rank = s > s.max(initial=0.0) * max(A.shape) * np.finfo(float).eps
    rank[0] = True  # one coordinate, all zero for a zero view, as its columns are
    return u[:, rank] * s[rank], vt[rank].T


def row_spaces(views):
    """Each of ``views`` as ``(coordinates, basis)``: a view wider than its
    rows in :func:`row_space` coordinates, any other as it is (basis None)."""
    return [row_space(V) if V.shape[1] > V.shape[0] else (V, None) for V in views]


def solvable_in_row_space(n_rows, widths):
    """Whether a view of ``widths`` is wider than ``n_rows`` and the views'
    values, copied in float64 for :func:`row_space`, fit its budget."""
    return max(widths) > n_rows and n_rows * sum(widths) <= _MAX_ROW_SPACE_VALUES


def in_columns(weights, basis, n_pairs):
    """Weights given in :func:`row_space` coordinates (``basis``: Q, or None
    for a view kept in its columns) as weights of the view's columns, with
    zero columns up to ``n_pairs`` (pairs beyond the rank, which a fit in
    the columns gives zero weights)."""
    if basis is not None:
        weights = basis @ weights
    return np.pad(weights, ((0, 0), (0, max(n_pairs - weights.shape[1], 0))))


def fit_linear_cca(A, B, n_components=None, reg=DEFAULT_REG, invertible=False):
    """Fit a linear CCA between the columns of A and B in closed form.

    The covariances are accumulated over blocks of rows in float64, so the
    memory used is O(block + (p + q)^2), never a float64 copy of A or B;
    except that a view wider than the rows, when the views hold at most
    2**25 values and ``invertible=False``, is solved in the span of its rows
    (:func:`row_space`), at the cost of the rows' number, not its width.

    Parameters
    ----------
    A : array-like of shape (n_samples, n_features_a)
    B : array-like of shape (n_samples, n_features_b)
    n_components : int, default=None
        Number of canonical pairs; ``min(n_features_a, n_features_b)`` if None.
    reg : float, default=1e-4
        Ridge added to each view's covariance, relative to its mean eigenvalue
        (for a view wider than the rows, the mean over the n_samples - 1
        directions they span).
    invertible : bool, default=False
        Keep the weight matrices invertible (square case), as a rotation of
        the data must be; otherwise null-space directions get zero weight.

    Returns
    -------
    cca : LinearCCA
    """
    n, widths = A.shape[0], (A.shape[1], B.shape[1])
    if invertible or not solvable_in_row_space(n, widths):
        moments = JointMoments()
        for rows in row_blocks(n):
            moments.update(np.hstack([np.asarray(A[rows]), np.asarray(B[rows])]))
        return fit_linear_cca_from_moments(
            moments, widths[0], n_components, reg, invertible
        )
    views = [np.asarray(V, dtype=np.float64) for V in (A, B)]
    means = [V.mean(axis=0) for V in views]
    spans = row_spaces(views)
    moments = JointMoments()
    moments.update(np.hstack([span for span, _ in spans]))
    d = spans[0][0].shape[1]
    cca = fit_linear_cca_from_moments(moments, d, n_components, reg)
    k = min(widths) if n_components is None else min(n_components, *widths)
    weights = [in_columns(w, basis, k) for w, (_, basis) in
               zip((cca.weights_a, cca.weights_b), spans)]  # fmt: skip
    correlations = np.pad(cca.correlations, (0, k - cca.correlations.size))
    return LinearCCA(*means, *weights, correlations)


def fit_linear_cca_from_moments(
    moments, n_features_a, n_components=None, reg=DEFAULT_REG, invertible=False
):
    """:func:`fit_linear_cca` from the :class:`JointMoments` of ``[A, B]``;
    ``n_features_a`` splits the joint columns into A's and B's."""
    mean, cov = moments.mean_cov()
    d = n_features_a
    k_max = min(d, mean.size - d)
    k = k_max if n_components is None else min(n_components, k_max)
    wa = _inv_sqrt(_eig(cov[:d, :d]), reg, invertible, moments.n_rows)
    wb = _inv_sqrt(_eig(cov[d:, d:]), reg, invertible, moments.n_rows)
    # SVD of the whitened cross-covariance: singular values are the
    # canonical correlations, singular vectors the whitened directions.
    u, s, vt = np.linalg.svd(wa @ cov[:d, d:] @ wb, full_matrices=False)
    u, vt = svd_flip(u, vt)
    weights_a, weights_b = wa @ u[:, :k], wb @ vt[:k].T
    correlations = np.clip(s[:k], 0.0, 1.0)
    if not invertible:
        null = _roundoff_columns(weights_a) | _roundoff_columns(weights_b)
        weights_a[:, null], weights_b[:, null], correlations[null] = 0.0, 0.0, 0.0
    return LinearCCA(mean[:d], mean[d:], weights_a, weights_b, correlations)


def held_out_correlations(cca, moments):
    """Correlation of each of ``cca``'s variate pairs on other rows.

    ``moments`` are the :class:`JointMoments` of ``[A, B]`` on those rows (e.g.
    a validation fold); the variates' covariances there follow from them, so
    no row is read again. A variate that is constant there (e.g. a null
    pair's zero weights) gets 0.

    Returns
    -------
    ndarray of shape (n_components,)
    """
    _, cov = moments.mean_cov()
    d = cca.weights_a.shape[0]
    return _pair_correlations(
        cca.weights_a, cca.weights_b, cov[:d, :d], cov[:d, d:], cov[d:, d:]
    )


def _pair_correlations(wa, wb, cov_aa, cov_ab, cov_bb):
    """Correlation of each pair of variates of weights ``wa``, ``wb`` under
    the covariance blocks ``cov_*``; 0 for a variate that is constant."""
    # diag(wa' C wb) as column sums of a product: one BLAS matrix product
    # each (a three-operand einsum loops in C, several times slower).
    cross = ((cov_ab @ wb) * wa).sum(axis=0)
    var = ((cov_aa @ wa) * wa).sum(axis=0) * ((cov_bb @ wb) * wb).sum(axis=0)
    varying = var > _NULL * max(var.max(initial=0.0), _TINY)
    return np.where(varying, cross / np.sqrt(np.where(varying, var, 1.0)), 0.0)


def held_out_total_correlation(cca, moments, whitened=False):
    """Total canonical correlation of ``cca``'s variates on other rows.

    By default the sum of :func:`held_out_correlations`: the protocol of
    :func:`skcorrnet.metrics.total_correlation` (Deep CCA's), so that the
    ridge choice and the early-stopping score estimate the figure a user
    measures. A pair whose direction the fit got wrong scores low.

    With ``whitened=True`` the variates are first whitened with the held-out
    covariances, which re-fits the CCA of the variates on those rows: several
    variates that track one held-out direction count once, but so do
    directions the fit got wrong, and on few rows the re-fit's own optimism
    adds to the figure; early stopping scored this way once kept training
    models that the per-pair figure rated below their start. Used to check
    that the per-pair figure is not inflated by redundant variates
    (``benchmarks/beyond_linear.py``).

    Returns
    -------
    float
        In [-k, k] (``whitened``: [0, k]).
    """
    if not whitened:
        return float(held_out_correlations(cca, moments).sum())
    _, cov = moments.mean_cov()
    d = cca.weights_a.shape[0]
    wa, wb = cca.weights_a, cca.weights_b
    n = moments.n_rows
    inv_a = _inv_sqrt(_eig(wa.T @ cov[:d, :d] @ wa), DEFAULT_REG, False, n)
    inv_b = _inv_sqrt(_eig(wb.T @ cov[d:, d:] @ wb), DEFAULT_REG, False, n)
    cross = inv_a @ wa.T @ cov[:d, d:] @ wb @ inv_b
    return float(np.linalg.svd(cross, compute_uv=False).sum())


def _projected(cov, basis_a, basis_b, d):
    """``cov``'s blocks in the views' eigenbases: (A'A, A'B, B'B)."""
    return (
        basis_a.T @ cov[:d, :d] @ basis_a,
        basis_a.T @ cov[:d, d:] @ basis_b,
        basis_b.T @ cov[d:, d:] @ basis_b,
    )


def _top_pairs(whitened, k):
    """The top ``k`` left and right singular vectors of ``whitened``, by the
    eigen-decomposition of its Gram matrix on the narrower side (about half
    an SVD's cost). Pairs of singular value below sqrt(eps) of the largest
    (roundoff, after squaring) get zero vectors."""
    wide = whitened.shape[0] > whitened.shape[1]
    m = whitened.T if wide else whitened
    evals, evecs = np.linalg.eigh(m @ m.T)
    s = np.sqrt(np.maximum(evals[::-1][:k], 0.0))
    u = evecs[:, ::-1][:, :k]
    real = s > np.sqrt(np.finfo(float).eps) * max(s.max(initial=0.0), _TINY)
    u = u * real
    v = (m.T @ u) / np.where(real, s, 1.0)
    return (v, u) if wide else (u, v)


def _ridge_path_scores(fitted, held_out, n_features_a, n_components, ridges):
    """:func:`held_out_total_correlation` of the CCA of ``fitted`` (moments)
    at each of ``ridges``, scored on ``held_out``, without fitting them.

    With C_a = U_a L_a U_a', the whitened cross-covariance at a ridge is
    U_a M U_b' with M = D_a U_a' C_ab U_b D_b, D = (L + ridge)^-1/2 as in
    :func:`_inv_sqrt`: the same singular values, and canonical weights
    U_a D_a u, U_b D_b v. So the weights and the held-out covariances are
    taken into the eigenbases once, and each ridge costs one symmetric
    eigen-decomposition and products with k columns. Null-space directions
    get no weight at any ridge (:func:`_inv_sqrt`), so they are
    dropped: with fewer rows than columns, that eigen-decomposition is the
    rank's size, not the view's.
    """
    d = n_features_a
    _, cov = fitted.mean_cov()
    k = min(n_components, d, cov.shape[0] - d)
    (evals_a, basis_a), (evals_b, basis_b) = _eig(cov[:d, :d]), _eig(cov[d:, d:])
    range_a, range_b = ~_null(evals_a), ~_null(evals_b)
    if not (range_a.any() and range_b.any()):  # a constant view: no pair varies
        return np.zeros(len(ridges))
    basis_a, basis_b = basis_a[:, range_a], basis_b[:, range_b]
    spanned_a, spanned_b = evals_a[range_a], evals_b[range_b]
    cross = basis_a.T @ cov[:d, d:] @ basis_b
    out_aa, out_ab, out_bb = _projected(held_out.mean_cov()[1], basis_a, basis_b, d)
    scores = []
    for ridge in ridges:
        da = 1.0 / np.sqrt(spanned_a + _ridge(evals_a, ridge, fitted.n_rows))
        db = 1.0 / np.sqrt(spanned_b + _ridge(evals_b, ridge, fitted.n_rows))
        u, v = _top_pairs(da[:, None] * cross * db, k)
        wa, wb = da[:, None] * u, db[:, None] * v
        scores.append(_pair_correlations(wa, wb, out_aa, out_ab, out_bb).sum())
    return np.array(scores)


def _fold_scores(fold_moments, n_features_a, n_components, ridges):
    """Each ridge's held-out total correlation on each of K folds: shape
    (K, len(ridges)).

    ``fold_moments`` holds each fold's :class:`JointMoments`; each fold is
    scored by a CCA fitted on the other folds' merged moments, so the scores
    cost no extra pass over the rows.
    """
    summaries = [m.summary() for m in fold_moments]
    scores = []
    for i, held_out in enumerate(fold_moments):
        rest = [s for j, s in enumerate(summaries) if j != i]
        merged = JointMoments.from_summary(*functools.reduce(merge_moments, rest))
        scores.append(
            _ridge_path_scores(merged, held_out, n_features_a, n_components, ridges)
        )
    return np.array(scores)


def _best(scores):
    """Index of the best summed score; ties go to the larger ridge."""
    total = scores.sum(axis=0)
    return int(np.flatnonzero(total >= total.max() - 1e-12)[-1])


def _pick_ridge(scores, n_folds, ridges=RIDGES, extended=()):
    """The ridge of :func:`choose_ridge` from its fold scores.

    ``scores`` has one row per fold (of every draw) and one column per ridge
    of ``ridges + extended``. The best of ``ridges`` is taken, unless the
    best of all gains on it, per fold, more than the standard error of that
    gain: a gain within its noise is not evidence for the extended ridges.
    The draws share their rows, so the error counts ``n_folds`` folds, not
    every row of ``scores``.
    """
    candidates = tuple(ridges) + tuple(extended)
    base = _best(scores[:, : len(ridges)])
    best = _best(scores)
    if best == base:
        return candidates[base]
    gain = scores[:, best] - scores[:, base]
    error = gain.std(ddof=1) / np.sqrt(n_folds) if len(gain) > 1 else np.inf
    return candidates[best] if gain.mean() > error else candidates[base]


def choose_ridge(draws, n_features_a, n_components, ridges=RIDGES, extended=()):
    """The ridge of the best held-out total correlation, summed over the
    K-fold CV scores of one or more draws of the folds (``draws``: a list of
    fold-moment lists), among ``ridges``, or among ``extended`` where their
    gain is beyond its noise (:func:`_pick_ridge`)."""
    candidates = tuple(ridges) + tuple(extended)
    scores = np.concatenate([
        _fold_scores(f, n_features_a, n_components, candidates) for f in draws
    ])  # fmt: skip
    return _pick_ridge(scores, len(draws[0]), ridges, extended)
