"""Linear CCA passes over a CorrNet's data: the start, the score, the rotation.

Each pass streams the joint moments of two sets of columns over blocks of
rows (:class:`._linear_cca.JointMoments`, merged over the ranks of a
distributed fit), never an n x d copy:

- :func:`linear_start`: the closed-form ridge CCA of the standardised views,
  its ridge chosen by K-fold cross-validation on held-out moments, as the
  linear paths the network starts from (Chandar et al.'s W and V, and
  least-squares decoders);
- :func:`held_out_total_correlation`: the early-stopping score, the Deep-CCA
  protocol (a CCA of the latents fitted on training rows, its correlations
  on held-out rows), with its standard error;
- :func:`held_out_mean_reciprocal_rank`: the early-stopping score with a
  ranking term, retrieval among held-out rows in the same canonical space;
- :func:`latent_moments`: the latents' moments, for the canonical rotation
  (``CorrNet(canonical=True)``);
- :func:`cross_readouts`: least-squares decoders of each view from the
  other view's latent, what ``predict`` and ``predict_x`` decode with.
"""

import functools

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.extmath import randomized_svd

from ._data import merge_moments
from ._linear_cca import (
    DEFAULT_REG,
    JointMoments,
    choose_ridge,
    fit_linear_cca_from_moments,
    held_out_correlations,
    _MAX_ROW_SPACE_VALUES,
    in_columns,
    row_spaces,
    solvable_in_row_space,
)
from ._objective import dense
from .metrics import _true_item_ranks
from ._training import map_batches

__all__ = [
    "MAX_START_WIDTH",
    "N_FOLDS",
    "start_coordinates",
    "held_out_mean_reciprocal_rank",
    "held_out_total_correlation",
    "latent_moments",
    "linear_start",
    "summed_correlation_error",
]

# Folds of the cross-validated choice of the linear start's ridge, each of at
# least _MIN_FOLD_ROWS rows (fewer: too noisy a correlation to score a ridge).
N_FOLDS = 5
_MIN_FOLD_ROWS = 5
# The start solves a view of up to MAX_START_WIDTH columns in its columns
# (O(width^2) memory, O(width^3) time) or, in one process, a wider one in the
# span of up to MAX_START_WIDTH rows; a view wider than that, among more rows,
# in the span of its PRINCIPAL_DIRECTIONS leading principal directions, found
# on a sample of up to _PRINCIPAL_SAMPLE_ROWS training rows.
MAX_START_WIDTH = 2048
PRINCIPAL_DIRECTIONS, _PRINCIPAL_SAMPLE_ROWS = 256, 4096


def _merged(moments, width, ranks):
    """``moments`` merged over ranks (a rank may hold none of the rows)."""
    if ranks.world_size == 1:
        return moments
    summary = (
        moments.summary()
        if moments.n_rows
        else (0, np.zeros(width), np.zeros((width, width)))
    )
    return JointMoments.from_summary(*ranks.merge_moments(summary))


def joint_moments(fn, arrays, stats, rows, width, ranks, folds=None, n_folds=1):
    """JointMoments of ``fn``'s ``width`` output columns over ``rows``, by fold.

    ``fn`` maps standardised blocks of ``arrays`` to a tensor; ``folds`` (an
    int per row of ``rows``, sorted as they are) splits the rows into
    ``n_folds`` sets, None keeps them together. Returns a list of moments,
    merged over ranks.
    """
    moments = [JointMoments() for _ in range(n_folds)]
    done = [0]

    def consume(block):
        labels = np.zeros(len(block), dtype=np.int64)
        if folds is not None:
            labels = folds[done[0] : done[0] + len(block)]
        done[0] += len(block)
        for fold in np.unique(labels):
            moments[fold].update(block[labels == fold])

    map_batches(fn, arrays, stats, consume=consume, rows=rows)
    return [_merged(m, width, ranks) for m in moments]


def _views(x, y):
    return torch.cat([dense(x), dense(y)], dim=1).double()


def _least_squares_decoder(cov, weights):
    """Decoder D of a view from its variates ``(A - mean) @ weights``.

    D = C W (W' C W)^+, the regression of the standardised view on its
    variates (no intercept: the variates and the view are centred together).
    """
    gram = weights.T @ cov @ weights
    return (cov @ weights) @ np.linalg.pinv(gram, hermitian=True)


def _in_row_spaces(X, Y, stats, rows):
    """The standardised ``rows`` of X and Y, in memory; a view wider than
    the rows in coordinates of an orthonormal basis Q of their span
    (:func:`._linear_cca.row_space`: every fold's CCA is the same there).

    Returns
    -------
    views : (A, B), ndarrays of shape (len(rows), r_x or p), (len(rows), r_y or q)
    bases : (Q_x, Q_y), each of shape (p, r) or None for a view kept as is
    """
    every_row = len(rows) == X.shape[0]
    both = map_batches(_views, [X, Y], stats, rows=None if every_row else rows)
    spans = row_spaces(np.split(both, [X.shape[1]], axis=1))
    return [span for span, _ in spans], [basis for _, basis in spans]


def _identity_stats(views, like):
    """Standardisation tensors that leave ``views`` as they are, on the
    device and in the dtype of ``like`` (a scale tensor)."""
    return [
        (None, torch.ones(A.shape[1], dtype=like.dtype, device=like.device), None)
        for A in views
    ]


def _principal_bases(X, Y, stats, rows, rng):
    """For each view wider than MAX_START_WIDTH, an orthonormal basis
    (width x m) of the m = PRINCIPAL_DIRECTIONS leading principal directions
    of its standardised rows, by a randomized SVD (Halko et al. 2011) of a
    sample of ``rows`` holding at most 2**25 values; None for a narrower view.
    """
    widths = (X.shape[1], Y.shape[1])
    n_sample = min(
        len(rows), _PRINCIPAL_SAMPLE_ROWS, _MAX_ROW_SPACE_VALUES // sum(widths)
    )
    sample = np.sort(rng.choice(rows, n_sample, replace=False))
    both, done = np.empty((n_sample, sum(widths))), [0]

    def consume(block):  # into one array: no second copy of the sample
        both[done[0] : done[0] + len(block)] = block
        done[0] += len(block)

    map_batches(_views, [X, Y], stats, consume=consume, rows=sample)
    bases = []
    for view in np.split(both, [widths[0]], axis=1):
        basis = None
        if view.shape[1] > MAX_START_WIDTH:
            m = min(PRINCIPAL_DIRECTIONS, n_sample - 1)
            basis = randomized_svd(view, m, random_state=rng)[2].T
        bases.append(basis)
    return bases


def _in_bases(bases, like):
    """:func:`_views` with each view projected on its basis (None: kept in
    its columns), the bases on the device of ``like`` (a scale tensor)."""
    bases = [None if b is None else torch.as_tensor(b, device=like.device)
             for b in bases]  # fmt: skip

    def coordinates(x, y):
        views = [dense(v).double() for v in (x, y)]
        return torch.cat(
            [v if b is None else v @ b for v, b in zip(views, bases)], dim=1
        )

    return coordinates


def start_coordinates(X, Y, n_rows, one_process):
    """Where :func:`linear_start` solves the CCA of ``n_rows`` rows of X and
    Y: ``"rows"``, the span of the rows (one process, a view wider than at
    most MAX_START_WIDTH rows holding at most 2**25 values); ``"principal"``,
    a dense view's leading principal directions (one process, a view over
    MAX_START_WIDTH columns among more rows); else ``"columns"``."""
    widths = (X.shape[1], Y.shape[1])
    if (
        one_process
        and n_rows <= MAX_START_WIDTH
        and solvable_in_row_space(n_rows, widths)
    ):
        return "rows"
    wide = [V for V in (X, Y) if V.shape[1] > MAX_START_WIDTH]
    if one_process and wide and not any(sp.issparse(V) for V in wide):
        return "principal"
    return "columns"


def _coordinates(X, Y, stats, rows, rng, ranks):
    """The coordinates :func:`start_coordinates` names: each view's
    columns; the span of the rows (the same CCA, :func:`_in_row_spaces`);
    or a wide view's leading principal directions (:func:`_principal_bases`:
    the CCA within its directions of largest variance, a start that
    training goes on from).

    Returns
    -------
    source : (fn, arrays, stats, rows), from which :func:`joint_moments`
        streams the coordinates
    widths : (int, int), the coordinates' numbers of columns
    bases : (Q_x, Q_y), each of shape (n_features, width) or None for a view
        in its columns
    paired : (int, int), the widths whose canonical pairs the start gives:
        the views' own (in the rows' span, pairs beyond the rank are zero,
        as in the columns), or the principal coordinates'
    """
    widths = (X.shape[1], Y.shape[1])
    where = start_coordinates(X, Y, len(rows), ranks.world_size == 1)
    if where == "rows":
        views, bases = _in_row_spaces(X, Y, stats, rows)
        stats = _identity_stats(views, stats[0][1])
        source = (_views, views, stats, np.arange(len(rows)))
        return source, tuple(V.shape[1] for V in views), bases, widths
    bases = (None, None)
    if where == "principal":
        bases = tuple(_principal_bases(X, Y, stats, rows, rng))
    widths = tuple(w if b is None else b.shape[1] for w, b in zip(widths, bases))
    fn = _views if where == "columns" else _in_bases(bases, stats[0][1])
    return (fn, [X, Y], stats, rows), widths, bases, widths


def _fold_moments(source, width, n_folds, rng, ranks):
    """Each of ``n_folds`` folds' JointMoments of the ``width`` coordinates
    of ``source`` (see :func:`_coordinates`; near-equal folds of its rows,
    drawn at random; one pass over the rows)."""
    fn, arrays, stats, rows = source
    folds = None
    if n_folds > 1:
        folds = rng.permutation(np.arange(len(rows)) % n_folds)
    every_row = len(rows) == arrays[0].shape[0]  # read in slices, not by index
    return joint_moments(
        fn, arrays, stats, None if every_row else rows, width, ranks, folds,
        max(n_folds, 1),
    )  # fmt: skip


def linear_start(
    X, Y, stats, rows, n_components, rng, ranks, n_draws=1, extended=()
):
    """Weights of the closed-form ridge CCA of the standardised training rows.

    The ridge is chosen among :data:`._linear_cca.RIDGES` by ``N_FOLDS``-fold
    cross-validation of the held-out total correlation, computed from each
    fold's moments (one pass over the rows per draw of folds), its scores
    summed over ``n_draws`` draws of the folds; or among ``extended`` where
    their gain is beyond its noise (:func:`._linear_cca.choose_ridge`).
    Units beyond the ``min(n_features)`` canonical pairs keep their random
    weights. In one process, a view wider than the training rows is taken
    in coordinates of their span: the same CCA, at the cost of the rows'
    rank rather than the view's width; and a view wider than
    MAX_START_WIDTH among more rows in coordinates of its leading principal
    directions (:func:`_coordinates`).

    Returns
    -------
    ridge : float
    encoders : (W, V), float32 tensors of shape (k0, p), (k0, q)
    decoders : (D_x, D_y), float32 tensors of shape (p, k0), (q, k0)
        k0 = min(n_components, p, q) units are set (in principal
        coordinates, at most their number).
    """
    source, (p, q), bases, paired = _coordinates(X, Y, stats, rows, rng, ranks)
    k0 = min(n_components, *paired)
    n_rows = int(ranks.sum([len(rows)])[0])
    n_folds = min(N_FOLDS, n_rows // _MIN_FOLD_ROWS)
    draws = [
        _fold_moments(source, p + q, n_folds, rng, ranks)
        for _ in range(n_draws if n_folds > 1 else 1)
    ]
    moments = draws[0]
    ridge = DEFAULT_REG
    if n_folds > 1 and all(m.n_rows > 1 for m in moments):
        ridge = choose_ridge(draws, p, n_components, extended=extended)
    total = JointMoments.from_summary(
        *functools.reduce(merge_moments, [m.summary() for m in moments if m.n_rows])
    )
    cca = fit_linear_cca_from_moments(total, p, n_components, ridge)
    _, cov = total.mean_cov()
    weights = (cca.weights_a, cca.weights_b)
    decoders = [
        _least_squares_decoder(c, w) for c, w in zip((cov[:p, :p], cov[p:, p:]), weights)
    ]

    def tensor(a, basis):  # from the coordinates to the columns
        a = in_columns(a, basis, k0)
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)

    return (
        ridge,
        tuple(tensor(w, b).T for w, b in zip(weights, bases)),
        tuple(tensor(d, b) for d, b in zip(decoders, bases)),
    )


def _latents(modules):
    """``[h(x), h(y)]`` in float64, ``modules`` = (network for x, for y)."""
    net_x, net_y = modules

    def latents(x, y):
        hx = net_x.latent(net_x.pre_x(x)).double()
        hy = net_y.latent(net_y.pre_y(y)).double()
        return torch.cat([hx, hy], dim=1)

    return latents


def latent_moments(modules, X, Y, stats, rows, ranks):
    """JointMoments of ``[h(x), h(y)]`` over ``rows`` (of every rank).

    ``modules`` = (for x, for y): each view may be embedded by a copy of the
    network in its own precision, with ``stats`` in that precision.
    """
    k = modules[0].latent_bias.shape[0]
    return joint_moments(_latents(modules), [X, Y], stats, rows, 2 * k, ranks)[0]


def _latent_cca(module, X, Y, stats, fit_rows, ranks):
    """The k x k CCA of the latents of ``fit_rows`` (training rows)."""
    k = module.latent_bias.shape[0]
    module.eval()
    fitted = latent_moments((module, module), X, Y, stats, fit_rows, ranks)
    return fit_linear_cca_from_moments(fitted, k, k)


def held_out_total_correlation(module, X, Y, stats, fit_rows, score_rows, ranks):
    """Total correlation of the latents on ``score_rows``, Deep-CCA protocol,
    and its standard error.

    A k x k CCA is fitted on the latents of ``fit_rows`` (training rows);
    the correlations of its variate pairs are summed on ``score_rows`` (held
    out; see :func:`._linear_cca.held_out_total_correlation`).

    Returns
    -------
    score, standard_error : float
        The standard error is :func:`summed_correlation_error`'s.
    """
    cca = _latent_cca(module, X, Y, stats, fit_rows, ranks)
    held_out = latent_moments((module, module), X, Y, stats, score_rows, ranks)
    r = held_out_correlations(cca, held_out)
    return float(r.sum()), summed_correlation_error(r, held_out.n_rows)


def summed_correlation_error(r, n_rows):
    """Standard error of a sum of sample correlations ``r`` of ``n_rows`` rows.

    A sample correlation has a standard error of about (1 - r^2) / sqrt(n - 1)
    (Fisher 1921, for normal data); canonical variate pairs are uncorrelated,
    so their errors add in quadrature.
    """
    r = np.asarray(r, dtype=np.float64)
    return float(np.sqrt(((1.0 - r * r) ** 2).sum() / max(n_rows - 1, 1)))


def _reciprocal_ranks(a, b):
    """Each row's reciprocal rank of its partner, a -> b and b -> a, halved.

    Ranks are :mod:`skcorrnet.metrics`' (cosine, ties counted against the
    true partner), so the score agrees with ``recall_at_k`` and
    ``median_rank``.

    Returns
    -------
    ndarray of shape (n_rows,)
    """
    a_to_b = _true_item_ranks(a, b, "cosine", None)
    b_to_a = _true_item_ranks(b, a, "cosine", None)
    return 0.5 * (1.0 / a_to_b + 1.0 / b_to_a)


def held_out_mean_reciprocal_rank(module, X, Y, stats, fit_rows, score_rows, ranks):
    """Retrieval on ``score_rows``, in the space ``transform`` returns, and
    its standard error.

    The latents are rotated by the k x k CCA of ``fit_rows`` (the canonical
    variates of ``CorrNet(canonical=True)``); each held-out row then looks
    for its partner among the other held-out rows of its process, in both
    directions. The score is the mean reciprocal rank over every process's
    rows; its standard error, that of a mean of the rows' values.

    Returns
    -------
    score, standard_error : float
    """
    k = module.latent_bias.shape[0]
    cca = _latent_cca(module, X, Y, stats, fit_rows, ranks)
    local = np.zeros(0)
    if len(score_rows):
        h = map_batches(_latents((module, module)), [X, Y], stats, rows=score_rows)
        local = _reciprocal_ranks(*cca.transform(h[:, :k], h[:, k:]))
    total, squares, count = ranks.sum([local.sum(), local @ local, len(local)])
    count = max(count, 1)
    mean, variance = total / count, max(squares / count - (total / count) ** 2, 0.0)
    return float(mean), float(np.sqrt(variance / count))


def cross_readouts(module, X, Y, stats, rows, ranks):
    """Least-squares linear decoders of each view from the other's latent.

    The regressions, with an intercept, of the standardised y (clipped, as
    the decoders reconstruct it) on h(x), and of x on h(y), over ``rows``
    (of every rank; None: all rows), from sums streamed in one pass.

    Returns
    -------
    list of (weight, bias)
        For x (from h(y)) then y (from h(x)): float64 arrays of shape
        (width, k) and (width,), the decoder's linear map.
    """
    module.eval()
    k = module.latent_bias.shape[0]
    widths = (X.shape[1], Y.shape[1])
    sums = [np.zeros(1 + sum(k + k * k + w * (k + 1) for w in widths))]

    def block_sums(x, y):
        hx = module.latent(module.pre_x(x)).double()
        hy = module.latent(module.pre_y(y)).double()
        parts = [torch.ones(1, dtype=torch.float64, device=hx.device) * len(hx)]
        for h, target in ((hy, x), (hx, y)):
            parts += [h.sum(0), h.T @ h, *_target_sums(target, h)]
        return torch.cat([part.reshape(-1) for part in parts])[None]

    def consume(block):
        sums[0] += block[0]

    with torch.no_grad():
        map_batches(block_sums, [X, Y], stats, consume=consume, rows=rows)
    return _solve_readouts(ranks.sum(sums[0]), k, widths)


def _target_sums(target, h):
    """Column sums of a (dense or sparse CSR) target block and its products
    with the latents ``h``: (width,) and (width, k), float64."""
    if target.layout == torch.strided:
        target = target.double()
        return target.sum(0), target.T @ h
    coo = target.to_sparse_coo().double()
    return torch.sparse.sum(coo, dim=0).to_dense(), torch.sparse.mm(coo.t(), h)


def _solve_readouts(sums, k, widths):
    """The regressions of :func:`cross_readouts` from its packed sums."""
    n_rows, at = max(sums[0], 1.0), 1
    readouts = []
    for width in widths:
        sizes = (k, k * k, width, width * k)
        h_sum, hh, t_sum, th = np.split(sums[at : at + sum(sizes)], np.cumsum(sizes)[:-1])
        at += sum(sizes)
        h_mean, t_mean = h_sum / n_rows, t_sum / n_rows
        cov_hh = hh.reshape(k, k) / n_rows - np.outer(h_mean, h_mean)
        cov_th = th.reshape(width, k) / n_rows - np.outer(t_mean, h_mean)
        # pinv: a latent unit constant on these rows gets no weight.
        weight = cov_th @ np.linalg.pinv(cov_hh, rcond=1e-10, hermitian=True)
        readouts.append((weight, t_mean - weight @ h_mean))
    return readouts
