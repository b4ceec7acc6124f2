"""Cross-modal search: the nearest catalogue items of one view to queries of the other.

:class:`CrossModalNeighbors` embeds a catalogue once with a fitted two-view model
and answers ``kneighbors`` queries from the other view, as
:class:`sklearn.neighbors.NearestNeighbors` does within one space. The search
is exact and runs over blocks of queries and of catalogue items, so the
distance matrix never exceeds ``working_memory``.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn import get_config
from sklearn.utils import check_array
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

__all__ = ["CrossModalNeighbors"]

# Catalogue items compared with a block of queries at once (fewer when
# working_memory is small).
_CATALOGUE_BLOCK = 8192


def _prepare(E, metric):
    """Rows of E in float64: unit length for cosine (zero rows stay zero)."""
    E = np.asarray(E, dtype=np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(E, axis=1, keepdims=True)
        E = E / np.where(norms > 0, norms, 1.0)
    return E


def _distances(Q, C, metric):
    """Distances between prepared query rows Q and catalogue rows C."""
    if metric == "cosine":
        return 1.0 - Q @ C.T
    squared = (Q * Q).sum(1)[:, None] + (C * C).sum(1)[None, :] - 2.0 * (Q @ C.T)
    return np.sqrt(np.maximum(squared, 0.0))


def _rows_within(row_bytes, working_memory):
    """Rows of ``row_bytes`` each that fit in ``working_memory`` MiB (at least 1)."""
    mib = get_config()["working_memory"] if working_memory is None else working_memory
    return max(1, int(mib * 2**20 // row_bytes))


def _ordered(D, index, k):
    """The first k entries of each row by (distance, index), and their indices."""
    order = np.lexsort((index, D), axis=1)[:, :k]
    return np.take_along_axis(D, order, 1), np.take_along_axis(index, order, 1)


def _smallest(D, first, k):
    """The k nearest of a block whose column j is catalogue item ``first + j``.

    Exact: of the items tied at the k-th distance, those of lowest index are
    kept, found with a partition and a running count instead of a full sort.
    """
    index = np.broadcast_to(np.arange(first, first + D.shape[1]), D.shape)
    if D.shape[1] > k:
        kth = np.partition(D, k - 1, axis=1)[:, k - 1 : k]
        below, tied = D < kth, D == kth
        need = k - below.sum(axis=1, keepdims=True)
        keep = below | (tied & (np.cumsum(tied, axis=1) <= need))
        D, index = D[keep].reshape(len(D), k), index[keep].reshape(len(D), k)
    return _ordered(D, index, k)


def top_k(queries, catalogue, k, metric="cosine", working_memory=None):
    """Exact k nearest catalogue rows of each query row, in memory-bounded blocks.

    Parameters
    ----------
    queries : ndarray of shape (n_queries, n_components)
    catalogue : array-like of shape (n_items, n_components)
        Read block by block (a memmap stays on disk).
    k : int
        At most ``n_items``.
    metric : {"cosine", "euclidean"}
    working_memory : int, default=None
        MiB for one block of distances; scikit-learn's default if None.

    Returns
    -------
    distances, indices : ndarray of shape (n_queries, k)
        Ordered by increasing distance, equal distances by increasing index.
    """
    n_items = catalogue.shape[0]
    block = min(n_items, _CATALOGUE_BLOCK)
    # About four n_queries x block float64 arrays live at once (D, masks, index).
    block = min(block, max(k, _rows_within(4 * 8, working_memory)))
    rows = _rows_within(4 * 8 * block, working_memory)
    distances = np.empty((len(queries), k))
    indices = np.empty((len(queries), k), dtype=np.int64)
    for q0 in range(0, len(queries), rows):
        Q = _prepare(queries[q0 : q0 + rows], metric)
        best = (np.empty((len(Q), 0)), np.empty((len(Q), 0), dtype=np.int64))
        for c0 in range(0, n_items, block):
            C = _prepare(catalogue[c0 : c0 + block], metric)
            found = _smallest(_distances(Q, C, metric), c0, min(k, len(C)))
            best = _ordered(*(np.hstack(pair) for pair in zip(best, found)), k)
        distances[q0 : q0 + rows], indices[q0 : q0 + rows] = best
    return distances, indices


class CrossModalNeighbors(BaseEstimator):
    """Search a catalogue of one view with queries from the other.

    ``fit`` embeds the catalogue once with a fitted two-view model (for
    example :class:`~skcorrnet.CorrNet`); ``kneighbors`` embeds the queries of
    the other view and returns, for each, the nearest catalogue items in the
    shared space, as :meth:`sklearn.neighbors.NearestNeighbors.kneighbors`
    does within one space. The search is exact and works through blocks of
    queries and of catalogue items whose distances fit in ``working_memory``.

    Parameters
    ----------
    model : estimator
        A fitted model with ``transform(X)`` and ``transform_y(y)``, such as
        :class:`~skcorrnet.CorrNet`. It is used as it is, never refitted.

    n_neighbors : int, default=5
        Number of catalogue items returned per query by default.

    catalogue_view : {"y", "x"}, default="y"
        Which view the catalogue holds: with ``"y"``, ``fit`` takes y-view rows
        (embedded by ``model.transform_y``) and ``kneighbors`` takes X-view
        queries (``model.transform``); ``"x"`` searches the other way.

    metric : {"cosine", "euclidean"}, default="cosine"
        Distance in the shared space. Cosine distance is ``1 - cosine
        similarity`` (a zero embedding is at distance 1 from everything), as in
        :func:`skcorrnet.metrics.recall_at_k`.

    working_memory : int, default=None
        MiB for one block of distances; scikit-learn's ``working_memory``
        setting if None.

    Attributes
    ----------
    embeddings_ : ndarray of shape (n_items, n_components)
        The embedded catalogue, in the model's output dtype.

    n_items_ : int
        Number of catalogue items.

    See Also
    --------
    sklearn.neighbors.NearestNeighbors : Nearest neighbours within one space.
    skcorrnet.metrics.recall_at_k : Retrieval figures for paired rows.

    Notes
    -----
    Results are ordered by increasing distance, and equal distances by
    increasing catalogue index, so they are deterministic. The metrics count a
    tie *against* the true item instead (a collapsed model scores worst), so
    the hit rate read off ``kneighbors`` equals
    :func:`~skcorrnet.metrics.recall_at_k` when no distances tie, and can only
    exceed it when some do.

    Memory: the catalogue (a memmap stays on disk) is read in blocks by the
    model; ``embeddings_`` holds ``n_items x n_components`` values.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skcorrnet import CorrNet, CrossModalNeighbors
    >>> images = load_digits().data.reshape(-1, 8, 8)
    >>> left = images[:, :, :4].reshape(-1, 32)
    >>> right = images[:, :, 4:].reshape(-1, 32)
    >>> model = CorrNet(n_components=10, random_state=0, hidden_layer_sizes=())
    >>> model = model.fit(left[:1200], right[:1200])
    >>> search = CrossModalNeighbors(model, n_neighbors=3).fit(right[1200:])
    >>> distances, indices = search.kneighbors(left[1200:1202])
    >>> indices.shape
    (2, 3)
    >>> bool((distances[:, :-1] <= distances[:, 1:]).all())
    True
    """

    _parameter_constraints: dict = {
        "model": [HasMethods(["transform", "transform_y"])],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "catalogue_view": [StrOptions({"x", "y"})],
        "metric": [StrOptions({"cosine", "euclidean"})],
        "working_memory": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        model,
        *,
        n_neighbors=5,
        catalogue_view="y",
        metric="cosine",
        working_memory=None,
    ):
        self.model = model
        self.n_neighbors = n_neighbors
        self.catalogue_view = catalogue_view
        self.metric = metric
        self.working_memory = working_memory

    def _embed(self, data, view):
        check_is_fitted(self.model)
        embed = self.model.transform_y if view == "y" else self.model.transform
        return embed(data)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, catalogue, y=None):
        """Embed the catalogue.

        Parameters
        ----------
        catalogue : array-like of shape (n_items, n_features of its view)
            Rows of the catalogue view: a numpy array, memmap, sparse matrix
            or anything else the model's transform reads.

        y : None
            Ignored.

        Returns
        -------
        self : CrossModalNeighbors
        """
        self.embeddings_ = self._embed(catalogue, self.catalogue_view)
        self.n_items_ = self.embeddings_.shape[0]
        return self

    def kneighbors(self, X, n_neighbors=None, return_distance=True):
        """The nearest catalogue items of each query.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features of the other view)
            Queries from the view the catalogue does not hold.

        n_neighbors : int, default=None
            Items per query; the constructor's ``n_neighbors`` if None. At most
            the catalogue's size.

        return_distance : bool, default=True
            Whether to return the distances as well.

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors)
            Only when ``return_distance``; increasing along each row.

        indices : ndarray of shape (n_queries, n_neighbors)
            Row indices into the catalogue.
        """
        check_is_fitted(self)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if not isinstance(k, Integral) or isinstance(k, bool) or k < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {k!r}.")
        if k > self.n_items_:
            raise ValueError(
                f"n_neighbors={k} exceeds the catalogue's {self.n_items_} items."
            )
        query_view = "x" if self.catalogue_view == "y" else "y"
        queries = check_array(self._embed(X, query_view), dtype=np.float64)
        distances, indices = top_k(
            queries, self.embeddings_, int(k), self.metric, self.working_memory
        )
        return (distances, indices) if return_distance else indices
