"""Evaluation figures for two-view representations.

- :func:`sum_of_correlations`: the CorrNet paper's figure, the summed
  correlation of paired columns.
- :func:`total_correlation`: the Deep-CCA figure, held-out canonical
  correlations of a linear CCA fitted on training representations.
- :func:`recall_at_k`, :func:`median_rank`: cross-modal retrieval (im2recipe).
- :func:`correlation_scorer`: a scorer for ``GridSearchCV(scoring=...)``.

All functions take numpy arrays (or array-likes) and work for any model's
representations, CorrNet's or CCA's.
"""

import inspect

import numpy as np
from sklearn.metrics import pairwise_distances_chunked
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array

from ._linear_cca import DEFAULT_REG, fit_linear_cca

__all__ = [
    "correlation_scorer",
    "median_rank",
    "recall_at_k",
    "sum_of_correlations",
    "total_correlation",
]


def _check_pair(A, B, names=("A", "B"), same_width=True):
    A = check_array(A, input_name=names[0], dtype=np.float64)
    B = check_array(B, input_name=names[1], dtype=np.float64)
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of rows, got "
            f"{A.shape[0]} and {B.shape[0]}."
        )
    if same_width and A.shape[1] != B.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of columns, got "
            f"{A.shape[1]} and {B.shape[1]}."
        )
    return A, B


def _column_correlations(A, B):
    """Pearson correlation of each column pair; 0 where a column is constant.

    Constancy is decided on the values (peak-to-peak of 0), not on the centred
    norm, which roundoff can leave non-zero. Each column is divided by its
    largest magnitude before and after centring (correlation is scale-free),
    so columns of tiny or huge values neither underflow nor overflow: the
    mean of a subnormal column would round to one of its values.
    """
    varying = (np.ptp(A, axis=0) > 0) & (np.ptp(B, axis=0) > 0)

    def unit(M):
        peak = np.abs(M).max(axis=0)
        return M / np.where(peak > 0, peak, 1.0)

    def centred_unit(M):
        M = unit(M)
        return unit(M - M.mean(axis=0))

    A, B = centred_unit(A), centred_unit(B)
    denom = np.sqrt((A * A).sum(axis=0) * (B * B).sum(axis=0))
    cov = (A * B).sum(axis=0)
    varying &= denom > 0
    return np.clip(np.where(varying, cov / np.where(varying, denom, 1.0), 0.0), -1, 1)


def sum_of_correlations(A, B):
    """Sum over columns of the Pearson correlation of ``A[:, i]`` and ``B[:, i]``.

    The figure reported by the CorrNet paper. A constant column contributes 0.
    Note that redundant columns inflate it (k copies of one good direction
    score k times); :func:`total_correlation` does not have that weakness.

    Parameters
    ----------
    A, B : array-like of shape (n_samples, n_components)
        Paired representations of the two views.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from skcorrnet.metrics import sum_of_correlations
    >>> A = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> B = np.array([[2.0, 1.0], [4.0, 0.0], [6.0, 1.0]])
    >>> sum_of_correlations(A, B)
    0.0
    >>> sum_of_correlations(A[:, :1], B[:, :1])
    1.0
    """
    A, B = _check_pair(A, B)
    if A.shape[0] < 2:
        raise ValueError("Correlations need at least 2 rows.")
    return float(_column_correlations(A, B).sum())


def total_correlation(
    A_train, B_train, A_test, B_test, n_components=None, reg=DEFAULT_REG
):
    """Summed held-out canonical correlations (the Deep-CCA protocol).

    A linear CCA is fitted on the training representations; the canonical
    directions are applied to the test representations and the Pearson
    correlations of the resulting pairs are summed. The figure is invariant to
    any invertible linear map of either representation, so it cannot be
    inflated by redundant units.

    Parameters
    ----------
    A_train, B_train : array-like of shape (n_train, n_features_a), (n_train, n_features_b)
        Representations of the training rows.
    A_test, B_test : array-like of shape (n_test, n_features_a), (n_test, n_features_b)
        Representations of the held-out rows.
    n_components : int, default=None
        Number of canonical pairs to sum; all (``min`` of the widths) if None.
    reg : float, default=1e-4
        Ridge added to each view's covariance, relative to its mean eigenvalue
        (for a view wider than the rows, the mean over the n_train - 1
        directions they span).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from skcorrnet.metrics import total_correlation
    >>> rng = np.random.RandomState(0)
    >>> shared = rng.normal(size=(400, 2))
    >>> A = shared @ rng.normal(size=(2, 5)) + 0.1 * rng.normal(size=(400, 5))
    >>> B = shared @ rng.normal(size=(2, 4)) + 0.1 * rng.normal(size=(400, 4))
    >>> round(total_correlation(A[:300], B[:300], A[300:], B[300:], n_components=2), 1)
    2.0
    """
    A_train, B_train = _check_pair(A_train, B_train, ("A_train", "B_train"), False)
    A_test, B_test = _check_pair(A_test, B_test, ("A_test", "B_test"), False)
    if A_test.shape[1] != A_train.shape[1] or B_test.shape[1] != B_train.shape[1]:
        raise ValueError(
            "Test representations must have as many columns as the training ones."
        )
    if A_train.shape[0] < 2 or A_test.shape[0] < 2:
        raise ValueError("Correlations need at least 2 training and 2 test rows.")
    cca = fit_linear_cca(A_train, B_train, n_components=n_components, reg=reg)
    return float(_column_correlations(*cca.transform(A_test, B_test)).sum())


def _true_item_ranks(queries, items, metric, working_memory):
    """Rank (1 = best) of item i among all items for query i.

    Ties count against the true item (an item as close as the true one ranks
    above it), so a collapsed representation scores worst, not best.
    """
    ranks = np.empty(queries.shape[0], dtype=np.int64)

    def reduce(D, start):
        true = D[np.arange(D.shape[0]), np.arange(start, start + D.shape[0])]
        return (D <= true[:, None]).sum(axis=1)

    start = 0
    for chunk in pairwise_distances_chunked(
        queries,
        items,
        reduce_func=reduce,
        metric=metric,
        working_memory=working_memory,
    ):
        ranks[start : start + len(chunk)] = chunk
        start += len(chunk)
    return ranks


def recall_at_k(queries, items, k=1, metric="cosine", working_memory=None):
    """Fraction of queries whose true item is among the k nearest items.

    Row i of ``items`` is the true partner of row i of ``queries``; every
    item is a candidate for every query (a pool of ``n_samples`` candidates,
    as in im2recipe's 1k/10k protocol). Distances are computed in chunks
    bounded by ``working_memory``, so 10k x 10k pools fit in memory.

    Parameters
    ----------
    queries, items : array-like of shape (n_samples, n_components)
        Representations of the query view and of the searched view.
    k : int, default=1
    metric : str or callable, default="cosine"
        Any metric accepted by :func:`sklearn.metrics.pairwise_distances`.
    working_memory : int, default=None
        MiB per chunk of the distance matrix; scikit-learn's default if None.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skcorrnet.metrics import recall_at_k
    >>> items = np.eye(4)
    >>> queries = items[[0, 1, 3, 2]]
    >>> recall_at_k(queries, items, k=1)
    0.5
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    queries, items = _check_pair(queries, items, ("queries", "items"))
    ranks = _true_item_ranks(queries, items, metric, working_memory)
    return float(np.mean(ranks <= k))


def median_rank(queries, items, metric="cosine", working_memory=None):
    """Median rank of the true item over all queries (1 is perfect).

    See :func:`recall_at_k` for the protocol.

    Parameters
    ----------
    queries, items : array-like of shape (n_samples, n_components)
    metric : str or callable, default="cosine"
    working_memory : int, default=None

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from skcorrnet.metrics import median_rank
    >>> items = np.eye(3)
    >>> median_rank(items, items)
    1.0
    """
    queries, items = _check_pair(queries, items, ("queries", "items"))
    return float(np.median(_true_item_ranks(queries, items, metric, working_memory)))


def correlation_scorer(estimator, X, y):
    """Sum of correlations of the paired components of held-out (X, y).

    A scorer for ``GridSearchCV(scoring=correlation_scorer)`` and
    ``cross_val_score``: it ranks models by how correlated the representations
    ``estimator.transform(X, y)`` of the two views are. Works for any
    estimator whose ``transform(X, y)`` returns both views' components (CorrNet,
    CCA), and for a Pipeline ending in one. Compare models with the same
    ``n_components``.

    Parameters
    ----------
    estimator : fitted estimator
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_targets)

    Returns
    -------
    float

    Examples
    --------
    >>> from sklearn.datasets import load_linnerud
    >>> from sklearn.model_selection import cross_val_score
    >>> from skcorrnet import CorrNet
    >>> from skcorrnet.metrics import correlation_scorer
    >>> X, y = load_linnerud(return_X_y=True)
    >>> model = CorrNet(n_components=1, max_iter=5, random_state=0)
    >>> scores = cross_val_score(model, X, y, cv=2, scoring=correlation_scorer)
    >>> scores.shape
    (2,)
    """
    if isinstance(estimator, Pipeline):
        X = estimator[:-1].transform(X)
        estimator = estimator[-1]
    if "y" in inspect.signature(estimator.transform).parameters:
        components = estimator.transform(X, y)
        if isinstance(components, tuple) and len(components) == 2:
            return sum_of_correlations(*components)
    raise ValueError(
        f"{type(estimator).__name__}.transform(X, y) must return the "
        "components of both views."
    )
