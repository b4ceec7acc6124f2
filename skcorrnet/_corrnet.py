"""The CorrNet estimator: scikit-learn's CCA API over a minibatch torch core.

The API mirrors :class:`sklearn.cross_decomposition.CCA` (``fit(X, y)``,
``transform``, ``predict``, ``inverse_transform``, ``score``); the training
mirrors :class:`sklearn.neural_network.MLPRegressor` (``max_iter`` epochs,
``early_stopping``, ``partial_fit``, ``warm_start``).
"""

import copy
import functools
import os
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    MultiOutputMixin,
    RegressorMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array, check_consistent_length, check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import FLOAT_DTYPES, check_is_fitted, validate_data

from ._data import (
    check_streamed,
    is_streamed,
    merge_moments,
    moments_spread,
    moments_std,
    output_dtype,
    scan_view,
)
from ._checkpoint import fingerprint, load_checkpoint, save_checkpoint
from ._canonical import (
    MAX_START_WIDTH,
    cross_readouts,
    held_out_mean_reciprocal_rank,
    held_out_total_correlation,
    latent_moments,
    linear_start,
    start_coordinates,
)
from ._distributed import LOCAL, check_same_settings, join, local_device
from ._linear_cca import PLS_RIDGES, fit_linear_cca_from_moments
from ._module import ACTIVATIONS, CorrNetModule
from ._objective import CORRELATIONS, RANKING_LOSSES, Objective
from ._training import (
    SOLVERS,
    History,
    Schedule,
    Trainer,
    make_optimizer,
    map_batches,
    race,
    resolve_device,
)

__all__ = ["CorrNet"]

# early_stopping="auto" validates training when the held-out fraction of the
# paired rows would hold at least this many rows; below, the linear start is
# the model (too few rows to tell a better network from noise). Down to 30
# (300 paired rows) training gains far more on nonlinear views than it can
# lose on linear ones, as a trained epoch must beat the start by tol to
# replace it (benchmarks/few_rows.py).
_MIN_VALIDATION_ROWS = 30
# Where no training follows the linear start (too few rows to validate
# training, or no epoch beat the start), its ridge's CV scores are summed over
# this many draws of the folds, which steadies the choice on few rows
# (benchmarks/ridge_choice.py), for fewer than _MAX_REDRAWN_ROWS paired rows
# and views up to _MAX_REDRAWN_FEATURES columns (each draw costs a pass over
# the rows and K eigen-problems of the views' size: on more rows the CV's
# noise is small, and 4 draws took seconds more for the same ridge in
# benchmarks/speed.py's linear setting). Its CV may then also go on to
# ridges towards PLS (PLS_RIDGES), where they gain beyond the CV's noise: a
# start that training follows keeps RIDGES, as such a start's variates are
# too small a scale to train from.
_START_CV_DRAWS, _MAX_REDRAWN_ROWS, _MAX_REDRAWN_FEATURES = 4, 1000, 512
# Training rows the early-stopping score fits its k x k CCA on: this many per
# latent unit (the fitted CCA's error grows as k^2 / rows), and at least
# _MIN_SCORE_FIT_ROWS; each costs a forward pass per epoch.
_SCORE_FIT_ROWS_PER_UNIT, _MIN_SCORE_FIT_ROWS = 80, 4096
# Smallest scale of a canonical component (its correlation, if larger), so
# that inverse_transform stays finite for an uncorrelated component.
_MIN_COMPONENT_SCALE = 1e-3
# Version of the checkpoint layout (2: the training history as History.state;
# 3: with the stopping rule's reference; 4: and its count of falling epochs;
# 5: a stream's least-squares readouts; 6: the start's margin; 7: the learning
# rate's factor).
_CHECKPOINT_FORMAT = 7
# The name of each view's data in messages.
_NAMES = {"x": "X", "y": "y", None: "the components"}
_INDEX = {"x": 0, "y": 1}
# Held-out rows per process that the retrieval score ranks among (a pool of
# im2recipe's 1k size; the score's cost is quadratic in it).
_MAX_RANK_ROWS = 1000


def _to_cpu(obj):
    """A copy of a (nested) optimiser state with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {key: _to_cpu(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(value) for value in obj)
    return obj


def _rows_text(mask):
    rows = np.flatnonzero(mask)
    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
    return f"{rows[:10].tolist()}{more}"


def _present_views(scan_x, scan_y):
    """``(has_x, has_y)`` for data with missing views; None if all rows are paired.

    ``scan_x`` and ``scan_y`` are the views' :class:`ViewScan` (with NaN
    allowed), which found their entirely and partly NaN rows.
    """
    x_missing, y_missing = scan_x.missing, scan_y.missing
    for name, partial in (("X", scan_x.partial), ("y", scan_y.partial)):
        if partial.any():
            raise ValueError(
                f"{name} is partly NaN in rows {_rows_text(partial)}: with "
                "allow_missing_views=True a missing view must be entirely NaN "
                "(impute partly missing features first)."
            )
    both = x_missing & y_missing
    if both.any():
        raise ValueError(f"Rows {_rows_text(both)} have both views missing; drop them.")
    if not (x_missing | y_missing).any():
        return None
    return ~x_missing, ~y_missing


def _paired_rows(n_rows, present, ranks):
    """This rank's rows with both views, and their number over every rank."""
    paired = np.arange(n_rows)
    if present is not None:
        paired = np.flatnonzero(present[0] & present[1])
    n_paired = int(ranks.sum([len(paired)])[0])
    if n_paired < 2:
        raise ValueError(
            f"CorrNet needs at least 2 rows with both views, got {n_paired}."
        )
    return paired, n_paired


def _saved_moments(saved):
    """A checkpoint's scaling moments, as numpy values."""
    return {v: tuple(np.asarray(m) for m in saved["moments"][v]) for v in ("x", "y")}


def _packed_rng(rng):
    """A RandomState's state as one float64 vector (exact: keys are < 2**32)."""
    _, keys, pos, has_gauss, cached = rng.get_state()
    return np.concatenate([keys.astype(np.float64), [pos, has_gauss, cached]])


def _finite_output(out, name):
    """``out``, or a ValueError naming the first row whose output overflowed."""
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        raise ValueError(
            f"CorrNet's output overflowed for {bad.sum()} row(s) of {name} (first: "
            f"row {np.flatnonzero(bad)[0]}): their values lie far outside the "
            "training data's range, and the network computes in float32."
        )
    return out


class CorrNet(
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    RegressorMixin,
    MultiOutputMixin,
    BaseEstimator,
):
    """Correlational Neural Network: a common representation of two views.

    CorrNet (Chandar et al., 2016) is an autoencoder over paired views X and
    y. Each view is encoded into one shared latent space, ``h(x) = f(W x + b)``
    and ``h(y) = f(V y + b)``, and decoders reconstruct *both* views from
    h(x), h(y) and ``h(x, y) = f(W x + V y + b)``. Training minimises the six
    reconstruction errors minus ``correlation_weight`` times the summed
    correlation of the latent units of h(x) and h(y), on minibatches.

    The API is that of :class:`sklearn.cross_decomposition.CCA`: ``transform``
    embeds X (and y), ``predict`` reconstructs y from X alone, and
    ``inverse_transform`` maps latents back to the data spaces.

    Parameters
    ----------
    n_components : int, default=2
        Number of latent units (components).

    hidden_layer_sizes : int or array-like of int, default=(256, 256)
        Layers of each view's nonlinear branch, which adds to a linear path
        from the view to the latent units. ``()`` gives the original
        one-layer CorrNet (linear paths only).

    decoder_layer_sizes : int, array-like of int or "mirror", default=()
        Layers of each decoder's nonlinear branch, from the latent units
        outwards, which adds to the decoder's linear map. ``()``: linear
        decoders, as in the paper. ``"mirror"``: ``hidden_layer_sizes``
        reversed, as in Deep CCA's autoencoder (DCCAE); ``inverse_transform``
        then reconstructs better, but each step decodes three latents into
        two views, so such decoders hold most of a step's arithmetic (the
        user guide's "choosing the settings" measures both sides). With
        linear decoders, ``predict`` and ``predict_x`` do not decode through
        them but through least-squares readouts, the regressions of each
        view on the other's latent, fitted after training on the call's
        paired rows (as the canonical rotation is); deeper decoders predict
        themselves.

    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Activation of the hidden layers.

    latent_activation : {"identity", "logistic", "tanh", "relu"}, default="identity"
        The latent units' f. The original CorrNet used "logistic"; a linear
        latent has no dead or saturated units and can hold the linear CCA
        start exactly.

    init : {"auto", "cca", "random"}, default="auto"
        ``"cca"``: the linear paths start at the closed-form ridge CCA of the
        standardised training rows (ridge chosen among 7 values, 1e-4 to 1
        of the mean eigenvalue, over the directions the rows span for a view
        wider than the rows, by 5-fold cross-validation of the held-out
        total correlation, computed from streamed moments; where no training
        follows, as on few rows, summed over 4 draws of the folds for fewer
        than 1,000 rows and views up to 512 columns, and going on to 4
        larger ridges towards PLS, up to 1e4, where their gain per fold
        exceeds its standard error), the
        decoders at its least-squares inverse, and every nonlinear branch at
        zero: training starts from the linear optimum and only adds to it.
        Outside a distributed fit, a view wider than the rows (at most
        2,048 of them, holding at most 2**25 values) is solved in the span
        of the rows: the same CCA, at the cost of their number, not its
        width; and a dense view over 2,048 columns among more rows in the
        span of its 256 leading principal directions, found on a sample of
        up to 4,096 training rows: the CCA within the view's directions of
        largest variance, a start that training goes on from.
        ``"random"``: Glorot-uniform weights, as in the paper. ``"auto"``:
        where ``fit`` holds rows out for early stopping, the encoders have
        hidden layers and there is no ``checkpoint_path``, both: it trains
        from the CCA start and from random weights, each with its own
        optimiser, an epoch of each in turn, and keeps the run that scored
        higher on the held-out rows (the CCA start's on a tie). A run whose
        best score is more than 3 standard errors below the other's best
        epoch, and gains too slowly to catch up in 3 epochs, at 2 epochs in
        a row, stops there: the loser costs a few epochs where it falls
        clearly behind, up to a whole run where the two stay close; set
        ``init="cca"`` for one run. Neither start wins on every shape
        (``benchmarks/mid_width.py``): on some hundreds of columns among a few
        thousand rows the CCA start fits noise that training keeps, while on
        many weak factors a random start collapses (``benchmarks/speed.py``).
        Otherwise "cca", except for a view over 2,048 columns (whose
        covariance would cost O(width^2) memory and its CV O(width^3) time)
        in a distributed fit, or sparse among more rows (its sample would be
        dense): "random". ``init_`` says which start the model came from.

    alpha : float, default=1e-4
        Strength of the L2 penalty on the weights, as in MLPRegressor: each
        batch adds ``0.5 * alpha * ||weights||^2 / batch_rows`` to the loss.
        The optimiser applies its gradient as the weights' weight decay, so
        ``loss_curve_`` leaves it out.

    correlation : {"squared", "total", "per_unit"}, default="squared"
        The correlation term. ``"squared"``: the sum of the squared canonical
        correlations of h(x) and h(y) on the batch (the squared Frobenius
        norm of their whitened cross-covariance, cca-zoo's Deep CCA loss).
        ``"total"``: the sum of the canonical correlations (Andrew et al.'s
        Deep CCA objective). Neither can be inflated by several units
        tracking one direction. ``"per_unit"``: the paper's summed
        correlation of each unit of h(x) with the same unit of h(y).

    correlation_weight : float, default=50.0
        Weight of the correlation term (the paper's lambda, 2 there). 0 gives
        a plain multimodal autoencoder. The decoders learn from the
        reconstruction terms alone, so with Adam (whose steps do not scale
        with the loss) a large weight steers the encoders by correlation
        while the decoders still learn to reconstruct.

    ranking_weight : float, default=0.0
        Weight of an in-batch ranking term that scores each true pair
        (h(x_i), h(y_i)) above the batch's other pairings, on the cosine of
        the batch-centred latents (DeViSE's idea), relative to the
        correlation term: the loss adds ``ranking_weight * correlation_weight
        / 2`` times the ranking loss, so a setting keeps its balance of
        correlation and retrieval whatever ``correlation_weight`` (which must
        then be positive). Set it to 1 for cross-modal retrieval, the
        balance measured in ``benchmarks/ranking.py``: larger weights
        retrieve a little better and keep less of the total correlation.
        With it, early stopping scores retrieval instead of correlation. Rows
        whose partner input equals the true one (two images with one label)
        are not counted as negatives. 0 gives the original CorrNet.
        :class:`CrossModalNeighbors` searches the result.

    ranking_loss : {"softmax", "hinge"}, default="softmax"
        The ranking term: ``"softmax"``, cross-entropy of the true partner
        among the batch with logits ``cos / ranking_temperature`` (InfoNCE),
        both directions; ``"hinge"``, DeViSE's hinge rank loss
        ``max(0, ranking_margin - cos(true) + cos(other))`` averaged over the
        other rows, both directions.

    ranking_temperature : float, default=0.1
        Temperature of the softmax ranking loss (smaller is sharper).

    ranking_margin : float, default=0.2
        Margin of the hinge ranking loss, in cosine units.

    scale : bool, default=True
        Whether to divide X and y by their standard deviations. Dense views
        are always centred, as in CCA; sparse views are not (centring would
        densify them), as with ``StandardScaler(with_mean=False)``. Constant
        columns are left unscaled.

    input_clip : float or None, default=5.0
        Inputs are clipped to ``input_clip`` training standard deviations of
        their column about its training mean (a sparse view, which is not
        centred: about 0) before they reach the network, in ``fit`` and in
        every method after it. A value far outside what training saw, such
        as a pixel that is on in a handful of training images and so lies
        tens of standard deviations from its mean, then cannot throw a latent
        far off, and a column that was constant in training is ignored.
        Reconstructions (``predict``, ``inverse_transform``) aim at the
        clipped values. None: no clipping.

    canonical : bool, default=True
        Whether ``transform`` returns canonical variates of the learned
        representation: after training, a linear CCA fitted on the training
        latents of the two views rotates them so that component 0 is the most
        correlated pair and components within a view are uncorrelated, as
        CCA users expect. Each component's variance is the square of its
        training correlation (``canonical_correlations_``), so cosines and
        distances between components, as in :class:`CrossModalNeighbors`,
        weigh each direction by how reliably the views share it.
        ``inverse_transform`` undoes the rotation; ``predict`` and
        ``predict_x`` do not depend on it.

    allow_missing_views : bool, default=False
        Whether ``fit`` and ``partial_fit`` accept rows with one view missing:
        a row whose X part is entirely NaN is a y-only row, one whose y part
        is entirely NaN an X-only row. Such rows train the reconstruction of
        their own view through the shared latent (the original CorrNet's
        single-view terms, weighted by ``unpaired_weight``), and they enter
        the correlation term: each latent unit's correlation is the paired
        rows' covariance over variances that are the larger of the paired
        rows' and all of the view's rows', about the view's mean over all its
        rows, so an encoder that spreads the one-view rows more than the
        paired ones is penalised. The ranking and canonical fits use the
        paired rows; scaling statistics use the rows where each view is
        present. Each batch holds ``batch_size`` paired rows and an even share
        of the one-view rows. A partly NaN view, a row with both views
        missing, or fewer than 2 paired rows is an error. ``transform`` and
        ``predict`` still need complete input. When False, any NaN is an
        error. The user guide quotes when one-view rows help
        (``benchmarks/semi_paired.py``).

    unpaired_weight : float, default=1.0
        With ``allow_missing_views=True``, the weight of the one-view rows'
        reconstruction terms. The paired rows' terms are averaged over the
        paired rows and the one-view rows' over the one-view rows, so the
        paired terms keep their weight however many one-view rows there are;
        1 weighs the two averages equally, 0 keeps the one-view rows out of
        the reconstruction (they still shape the correlation term).

    batch_size : int or "auto", default="auto"
        Most rows per minibatch. An epoch is split into
        ``ceil(n_samples / batch_size)`` batches of near-equal size, so no batch
        is much smaller than the others. The correlation term is estimated on
        each batch: keep it well above ``n_components``. ``"auto"``:
        ``max(128, min(8 * n_components, n_train // 20))``, 8 rows a latent
        unit, as on b rows the correlations of k units are overestimated by
        a share of about k / b of the term; at least 128, below which a batch
        only costs time; and at most a twentieth of the training rows, so
        that an epoch keeps 20 steps (n_train counts every process's rows in
        a distributed fit, the chunk's in ``partial_fit``, and the paired
        rows with missing views). Up to 16 components it is 128.
        (MLPRegressor's ``"auto"`` is ``min(200, n_samples)``.)

    max_iter : int, default=100
        Maximum number of epochs (passes over the data) of ``fit``.

    learning_rate_init : float or "auto", default="auto"
        Step size of the optimiser. ``"auto"``: ``1e-2 * sqrt(50 / n_steps)``
        in an epoch of ``n_steps`` optimiser steps (``ceil(n_train /
        batch_size)``, n_train excluding the rows held out for early
        stopping), at most 2e-2 (up to 12 steps), so that the weights drift
        no further between two early-stopping checks than in 50 steps at
        1e-2 (the user guide shows why: on many rows a fixed rate
        overshoots, and on a few thousand a rate held at 1e-2 stops short).
        With a ranking term (``ranking_weight > 0``) at most 1e-2, where
        held-out retrieval measures better. A float is used at every step.

    solver : {"adam", "rmsprop", "sgd"}, default="adam"
        The torch optimiser (the original CorrNet's is "rmsprop").

    tol : float or "auto", default="auto"
        Training stops when the loss (or, with ``early_stopping``, the
        validation score) has not improved by at least ``tol`` for
        ``n_iter_no_change`` consecutive epochs. Each epoch is compared with
        the last one that did improve by ``tol`` (at first, the start), not
        with the best so far as in MLPRegressor: a score that keeps climbing
        by less than ``tol`` an epoch goes on while it gains ``tol`` within
        ``n_iter_no_change`` epochs. ``"auto"``: with early
        stopping, the standard error of the validation score on the held-out
        rows (about sqrt(sum_j (1 - r_j^2)^2 / n) for n rows and held-out
        correlations r_j), since a smaller gain is within what the choice of
        those rows alone moves the score; else 1e-4 (MLPRegressor's).

    early_stopping : bool or "auto", default="auto"
        Whether to hold out ``validation_fraction`` of the rows, score each
        epoch by their total canonical correlation (a k x k CCA of the latents
        fitted on training rows, 80 per latent unit and at least 4,096 where
        there are more, the correlations of its variate pairs on the held-out
        rows summed: the protocol of
        :func:`skcorrnet.metrics.total_correlation`), stop when it stops
        improving, and restore the weights of the last epoch scoring within
        half a standard error of the best (epochs that close differ by the
        held-out rows' noise, and the later has trained more; see the user
        guide; with a ranking term, the best epoch's). With ``ranking_weight > 0``
        the score is retrieval instead: the mean reciprocal rank of each
        held-out row's partner among up to 1,000 held-out rows (per process),
        both directions, by cosine in the space ``transform`` returns. The
        starting weights are scored too, and an epoch replaces them only by
        beating their score by ``tol``: a fit never keeps weights that score
        below its start, nor trained weights that gain less than ``tol`` on
        it (with a ranking term, any gain: the CCA start is the linear
        optimum of correlation, not of retrieval). Where the start kept is
        the CCA start, it is refitted as without early stopping (on every
        row, its ridge cross-validated as when it is the whole model).
        ``"auto"``: on when the held-out rows would number at least 30 (300
        paired rows at the default ``validation_fraction``); below that, with
        a CCA start (``init``), there are too few rows to tell a better
        network from noise and the model is the linear start (``n_iter_`` is
        0); with a random start, off. ``partial_fit`` never holds rows out.

    validation_fraction : float, default=0.1
        Proportion of rows held out for early stopping.

    n_iter_no_change : int or np.inf, default=10
        Number of epochs without improvement before stopping. With early
        stopping, a fit also stops once its validation score has been more
        than 3 standard errors below that of its last improvement (see
        ``tol``) at 3 epochs in a row, after a first improvement over the
        start: the score is then falling, not noisy, and the best weights
        are behind. With early stopping, where either rule would stop, the
        fit first goes back to its kept weights and trains on at a fifth of
        the learning rate (as MLPRegressor's ``learning_rate="adaptive"``
        divides it by 5) while each epoch beats the best score, and stops at
        the first that does not: smaller steps settle nearer the optimum the
        full-rate steps jump around (see the user guide). ``np.inf``: no
        stopping before ``max_iter``.

    device : str, default="auto"
        Torch device to train and predict on: ``"cpu"``, ``"cuda"``,
        ``"cuda:1"``, ... ``"auto"`` picks CUDA when available. On a GPU,
        in-memory dense training data that take under half the free GPU
        memory are copied there once per ``fit`` and batches are gathered
        there; other data are sent a batch at a time from pinned memory.

    distributed : bool, default=False
        Whether ``fit`` and ``partial_fit`` train together with the other
        processes of a torch.distributed group, each on its own rows (launch
        the script with ``torchrun``, which sets RANK, WORLD_SIZE, MASTER_ADDR
        and MASTER_PORT, or initialise the group yourself; CorrNet otherwise
        initialises it, with NCCL for GPUs and Gloo for CPUs). Gradients are
        averaged by DistributedDataParallel; the correlation and ranking
        terms are computed on the global batch (the latents of every rank,
        gathered), so ``batch_size`` is the global batch and the objective
        does not depend on the number of processes. Scaling statistics,
        losses, validation scores and the canonical rotation are reduced
        over ranks: every rank ends with the same model. ``"auto"`` and
        ``"cuda"`` devices mean the rank's GPU, ``cuda:LOCAL_RANK``; with
        fewer GPUs than processes on a machine, ``"auto"`` trains every rank
        on the CPU and ``"cuda"`` raises a ValueError. Every rank needs at
        least 2 rows.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the validation split. An
        int gives bitwise identical results on the CPU.

    verbose : int, default=0
        When positive, print each epoch's loss terms, validation score and
        seconds; an epoch that runs longer than 5 s also reports its
        progress (rows done, rows/s, time left), as a tqdm bar when tqdm is
        installed and the output is a terminal, else as a line every 5 s.

    warm_start : bool, default=False
        Whether ``fit`` continues from the current weights, scaling statistics
        and optimiser state instead of starting afresh. With early stopping,
        the current weights are kept, with their ``best_validation_score_``,
        until an epoch replaces them by the same rule as in a first fit.

    checkpoint_path : str or path-like, default=None
        Where ``fit`` saves its whole training state after every epoch
        (weights, optimiser, random state, epoch counters, loss and
        validation history, kept weights, scaling moments), atomically: a
        kill during the write leaves the previous checkpoint whole. A
        ``fit`` with a checkpoint there, the same parameters and the same
        data (checked by a fingerprint of shapes and a few rows) resumes
        from it; on the CPU with an integer ``random_state`` it ends bitwise
        identical to an uninterrupted fit. A checkpoint of other data or
        parameters is an error, never resumed; a finished one gives the
        finished model. With ``distributed=True``, rank 0 writes it and
        every rank resumes from it. It is read with
        ``torch.load(weights_only=True)``, so it cannot run code.
        ``partial_fit`` saves after each call (see there).

    Attributes
    ----------
    n_features_in_ : int
        Number of features (columns) of X seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns of X seen during fit, when they all are strings.

    n_targets_ : int
        Number of columns of y seen during fit (1 for a 1-d y).

    x_mean_, x_std_ : ndarray of shape (`n_features_in_`,)
        Centring and scaling statistics of X (``x_std_`` is all ones when
        ``scale=False``).

    y_mean_, y_std_ : ndarray of shape (`n_targets_`,)
        Centring and scaling statistics of y.

    module_ : torch.nn.Module
        The trained network, on ``device_``.

    device_ : str
        The device the network lives on.

    n_iter_ : int
        Number of epochs run.

    loss_ : float or None
        Training loss of the last epoch; None when no epoch ran (the linear
        start is the model, see ``early_stopping``).

    loss_curve_ : list of float
        Training loss of each epoch (row-weighted mean over its batches).

    loss_terms_ : dict of str to list of float
        Per-epoch history of each loss term: ``recon_xy``, ``recon_x``,
        ``recon_y`` (reconstruction error of both views from h(x, y), h(x) and
        h(y)), ``correlation`` (summed correlation of h(x) and h(y)) and
        ``ranking`` (the ranking loss; 0 when ``ranking_weight=0``).

    best_loss_ : float or None
        Lowest training loss; None with ``early_stopping``.

    validation_scores_ : list of float or None
        With early stopping, the held-out total correlation after each epoch
        (the mean reciprocal rank with a ranking term; higher is better); else
        None.

    best_validation_score_ : float or None
        Best of the start's score and ``validation_scores_``; None without
        early stopping.

    init_ : {"cca", "random"}
        The start of the kept model (see ``init``).

    linear_start_ridge_ : float or None
        The ridge of the closed-form CCA the network started from (relative
        to each view's mean variance, over the directions the training rows
        span for a view wider than them): one of 1e-4 to 1, or, where the start
        is the model, up to 1e4 (towards PLS); None with a random start.

    canonical_correlations_ : ndarray of shape (n_components,) or None
        With ``canonical=True``, the correlation of each pair of training
        components, non-increasing; else None.

    See Also
    --------
    sklearn.cross_decomposition.CCA : Linear canonical correlation analysis.
    sklearn.neural_network.MLPRegressor : Neural network regression.
    CrossModalNeighbors : Search a catalogue of one view with the other.

    Notes
    -----
    The original paper's model (Chandar et al. 2016) is
    ``CorrNet(hidden_layer_sizes=(), latent_activation="logistic",
    init="random", correlation="per_unit", correlation_weight=2.0,
    solver="rmsprop", alpha=0.0, input_clip=None, early_stopping=False)``.

    ``score(X, y)`` (from :class:`~sklearn.base.RegressorMixin`) is the R² of
    ``predict(X)`` against y, as for CCA.

    ``fit_transform(X, y)`` returns the latent of X alone, as every
    scikit-learn transformer does (which lets CorrNet sit inside a Pipeline);
    CCA's returns a tuple. Use ``fit(X, y).transform(X, y)`` for both views.

    Training runs in float32. Outputs keep the dtype of the input: float32 in
    gives float32 out, float64 (or integers) gives float64.

    Data larger than memory: X and y may be ``np.memmap`` arrays or any 2-d
    array-like with a numpy ``dtype`` and row slicing (h5py datasets, zarr
    arrays). They are never converted as a whole: ``fit`` reads them in
    blocks, once to validate them and compute the scaling statistics, once
    per epoch (buffers of about 64 MB gathered from 16 contiguous blocks
    drawn at random, shuffled within the buffer), and once for the canonical
    rotation; ``transform`` and ``predict`` check each block as they read it.
    NaN or infinity is reported with its row. ``scipy.sparse`` views (CSR;
    CSC is converted) reach the first layer as torch sparse tensors. Data
    that arrive in chunks can be streamed through ``partial_fit`` instead.

    References
    ----------
    .. [1] S. Chandar, M. M. Khapra, H. Larochelle, B. Ravindran.
       "Correlational Neural Networks". Neural Computation 28(2), 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skcorrnet import CorrNet
    >>> images = load_digits().data.reshape(-1, 8, 8)
    >>> left = images[:, :, :4].reshape(-1, 32)
    >>> right = images[:, :, 4:].reshape(-1, 32)
    >>> model = CorrNet(n_components=5, random_state=0)
    >>> model.fit(left, right)
    CorrNet(n_components=5, random_state=0)
    >>> z_left, z_right = model.transform(left, right)
    >>> z_left.shape
    (1797, 5)
    >>> bool(model.canonical_correlations_[0] > 0.9)
    True
    >>> model.predict(left).shape
    (1797, 32)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "decoder_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"mirror"}),
        ],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "latent_activation": [StrOptions(set(ACTIVATIONS))],
        "init": [StrOptions({"auto", "cca", "random"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "correlation": [StrOptions(set(CORRELATIONS))],
        "correlation_weight": [Interval(Real, 0, None, closed="left")],
        "ranking_weight": [Interval(Real, 0, None, closed="left")],
        "ranking_loss": [StrOptions(set(RANKING_LOSSES))],
        "ranking_temperature": [Interval(Real, 0, None, closed="neither")],
        "ranking_margin": [Interval(Real, 0, None, closed="left")],
        "scale": ["boolean"],
        "input_clip": [Interval(Real, 0, None, closed="neither"), None],
        "canonical": ["boolean"],
        "allow_missing_views": ["boolean"],
        "unpaired_weight": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "solver": [StrOptions(set(SOLVERS))],
        "tol": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "device": [str],
        "distributed": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "checkpoint_path": [str, os.PathLike, None],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(256, 256),
        decoder_layer_sizes=(),
        activation="relu",
        latent_activation="identity",
        init="auto",
        alpha=1e-4,
        correlation="squared",
        correlation_weight=50.0,
        ranking_weight=0.0,
        ranking_loss="softmax",
        ranking_temperature=0.1,
        ranking_margin=0.2,
        scale=True,
        input_clip=5.0,
        canonical=True,
        allow_missing_views=False,
        unpaired_weight=1.0,
        batch_size="auto",
        max_iter=100,
        learning_rate_init="auto",
        solver="adam",
        tol="auto",
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        device="auto",
        distributed=False,
        random_state=None,
        verbose=0,
        warm_start=False,
        checkpoint_path=None,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.decoder_layer_sizes = decoder_layer_sizes
        self.activation = activation
        self.latent_activation = latent_activation
        self.init = init
        self.alpha = alpha
        self.correlation = correlation
        self.correlation_weight = correlation_weight
        self.ranking_weight = ranking_weight
        self.ranking_loss = ranking_loss
        self.ranking_temperature = ranking_temperature
        self.ranking_margin = ranking_margin
        self.scale = scale
        self.input_clip = input_clip
        self.canonical = canonical
        self.allow_missing_views = allow_missing_views
        self.unpaired_weight = unpaired_weight
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.learning_rate_init = learning_rate_init
        self.solver = solver
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.distributed = distributed
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.checkpoint_path = checkpoint_path

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the network on paired views for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix, np.memmap} of shape (n_samples, n_features)
            First view. Memmaps and other row-sliceable arrays (h5py
            datasets) are read in blocks, never copied whole.

        y : {array-like, sparse matrix, np.memmap} of shape (n_samples,) or \
                (n_samples, n_targets)
            Second view, row-paired with X.

        Returns
        -------
        self : object
            Fitted model.
        """
        return self._fit(X, y, incremental=False)

    def _check_partial_fit(self):
        if self.early_stopping is True:
            raise AttributeError(
                "partial_fit is not available with early_stopping=True: hold out "
                "your own validation chunk and stop the stream yourself."
            )
        return True

    @available_if(lambda est: est._check_partial_fit())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y):
        """Train for one pass over the given rows, continuing from the last call.

        Each call merges its rows into the running scaling statistics (as
        ``StandardScaler.partial_fit`` does), so they converge to those of the
        whole stream. With ``canonical=True`` the rotation is refitted on each
        call's rows: make the last chunk representative, or call
        ``partial_fit`` once more on a held sample. Not available with
        ``early_stopping=True``. With ``checkpoint_path``, each call saves the
        state; a fresh estimator given the same path restores it and skips
        the chunks it has trained on (each checked by its fingerprint), so
        feeding the stream again from its start resumes it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            First view of this chunk.

        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Second view of this chunk.

        Returns
        -------
        self : object
            The model, trained one more pass.
        """
        return self._fit(X, y, incremental=True)

    def _fit(self, X, y, incremental):
        reset = not hasattr(self, "module_") or (
            not self.warm_start and not incremental
        )
        device, ranks, X, Y = self._join_and_validate(X, y, reset)
        streaming = self.checkpoint_path is not None and incremental
        if streaming:
            train, restored = self._stream_checkpoint(X, Y, ranks, reset, device)
            if not train:  # a chunk the checkpoint has trained on
                self._keep_float64_copy()
                return self
            reset = reset and not restored
        # One pass over each view: statistics, missing rows, and (for streamed
        # views, which check_array has not read) finiteness.
        scans, present = ranks.agree(lambda: self._scan(X, Y))
        paired, n_paired = _paired_rows(X.shape[0], present, ranks)
        moments = self._merged_moments(scans, ranks, incremental and not reset)
        if reset:
            self._initialize(X, Y, moments, device)
        elif incremental:
            self._set_scaling(moments)
        early = self._early_stopping(incremental, n_paired, X, Y)
        rows, val_rows = np.arange(X.shape[0]), None
        if early:
            rows, val_rows = train_test_split(
                rows, test_size=self.validation_fraction, random_state=self._rng
            )
            rows, val_rows = np.sort(rows), np.sort(val_rows)
        linear = reset and self._starts_linear(X, Y)
        racing = linear and self._races(early, incremental)
        random_start = copy.deepcopy(self.module_.state_dict()) if racing else None
        if linear:
            train_paired = np.intersect1d(rows, paired, assume_unique=True)
            self._start_linear(X, Y, train_paired, ranks, final=early is None)
        if reset:
            self.init_ = "cca" if linear else "random"
        resumable = reset and not incremental  # fit resumes from a checkpoint
        scorer = None
        if early:  # both starts are scored alike: the same rows fit the CCA
            stats = self._stats_on_device()
            scorer = self._held_out_scorer(X, Y, stats, rows, val_rows, paired, ranks)
        data = (X, Y, rows, present)
        if racing:
            self._race(ranks.broadcast(random_start), data, scorer, ranks)
        else:
            self._run(data, scorer, ranks, early, incremental, resumable)
        if linear and early and self.init_ == "cca" and self._history.kept_start:
            self._start_linear(X, Y, paired, ranks, final=True)  # no epoch beat it
            self._keep_float64_copy()
        paired_rows = paired if present is not None else None
        self._fit_readouts(X, Y, paired_rows, ranks)
        self._fit_canonical(X, Y, paired_rows, ranks)
        if streaming:
            self._save_stream(ranks)
        return self

    def _join_and_validate(self, X, y, reset):
        """The device, the ranks (of a distributed fit, else LOCAL) and the
        validated views.

        In a distributed fit every rank runs this on its own rows; a rank's
        error in its data stops every rank (``agree``) instead of hanging,
        and so do ranks that differ in data width or settings.
        """
        self._check_settings()  # before any data is read
        device = self._device(reset)
        ranks = join(device) if self.distributed else LOCAL
        X, Y = ranks.agree(lambda: self._validate_xy(X, y, reset=reset))
        free = ("device", "random_state", "verbose")
        settings = {k: v for k, v in self.get_params().items() if k not in free}
        check_same_settings(ranks, settings, X.shape[1], Y.shape[1])
        return device, ranks, X, Y

    def _run(self, data, scorer, ranks, early, incremental, resumable):
        """Train on ``data`` = (X, Y, rows, present) with the kept trainer.

        ``early`` (see :meth:`_early_stopping`): True scores the held-out
        rows with ``scorer`` after each epoch, None trains no epoch (the
        linear start is the model). With ``resumable`` and a
        ``checkpoint_path``, training resumes from the checkpoint and saves
        after every epoch.
        """
        X, Y, rows, present = data
        stats = self._stats_on_device()
        n_epochs = 0 if early is None else 1 if incremental else self.max_iter
        resume = on_epoch = None
        if early:
            self._history.start_validation()
        elif early is not None:
            self._history.stop_validation()
        if self.checkpoint_path is not None and resumable:
            keys, resume = self._resume(X, Y, ranks)
            on_epoch = functools.partial(self._save, keys, ranks)
        self._trainer(ranks).run(
            (*data, stats), self._history, n_epochs, scorer, not incremental, resume,
            on_epoch,
        )  # fmt: skip
        self._finish_run()

    def _finish_run(self):
        """After training: publish the kept run's history, switch the
        network to inference and refresh its float64 copy."""
        self._history.publish(self)
        self.module_.eval()
        self._keep_float64_copy()

    def _keep_float64_copy(self):
        """Refresh the float64 copy of the network that float64 input runs
        through (made once per fit call, not once per inference call)."""
        self._module64 = copy.deepcopy(self.module_).double()

    def _trainer(self, ranks):
        """The trainer of this fit: the last call's when nothing it holds has
        changed (so a distributed partial_fit wraps the module in DDP once)."""
        params = self.get_params()
        objective = Objective.from_params(params)
        schedule = Schedule.from_params(params)
        trainer = getattr(self, "_kept_trainer", None)
        parts = (self.module_, self._optimizer, objective, ranks, schedule, self._rng)
        if trainer is None or not trainer.matches(*parts):
            trainer = self._kept_trainer = Trainer(*parts)
        return trainer

    def _check_settings(self):
        """What the parameter constraints cannot say."""
        self._layer_sizes("hidden_layer_sizes")
        self._layer_sizes("decoder_layer_sizes")
        if self.ranking_weight > 0 and self.correlation_weight == 0:
            raise ValueError(
                f"ranking_weight={self.ranking_weight!r} needs correlation_weight > 0: "
                "the ranking term is weighed relative to the correlation term "
                "(ranking_weight * correlation_weight / 2)."
            )

    def _layer_sizes(self, name):
        """Parameter ``name`` (``hidden_layer_sizes`` or ``decoder_layer_sizes``)
        as a tuple of ints (an int, a list or an array; ``"mirror"``: the
        hidden layers reversed)."""
        given = getattr(self, name)
        if isinstance(given, str):  # "mirror", the one string the constraints allow
            return tuple(reversed(self._layer_sizes("hidden_layer_sizes")))
        sizes = [given] if isinstance(given, Integral) else list(given)
        if any(
            not isinstance(s, Integral) or isinstance(s, bool) or s < 1 for s in sizes
        ):
            raise ValueError(f"{name} must hold positive integers, got {given!r}.")
        return tuple(int(s) for s in sizes)

    def _device(self, reset):
        if not reset:
            return torch.device(self.device_)
        if self.distributed:
            return resolve_device(local_device(self.device))
        return resolve_device(self.device)

    def _merged_moments(self, scans, ranks, running):
        """Scaling moments of all ranks' rows, and with ``running`` (a later
        partial_fit call) of the earlier chunks too."""
        moments = {
            view: ranks.merge_moments(scan.moments) for view, scan in scans.items()
        }
        if running:
            moments = {
                view: merge_moments(self._moments[view], moments[view])
                for view in moments
            }
        return moments

    def _early_stopping(self, incremental, n_paired, X, Y):
        """True, False, or None: ``"auto"`` with too few rows to hold out, and
        a linear start, which is then the model."""
        if incremental:
            return False
        if self.early_stopping != "auto":
            return bool(self.early_stopping)
        if n_paired * self.validation_fraction >= _MIN_VALIDATION_ROWS:
            return True
        return None if self._starts_linear(X, Y) else False

    def _starts_linear(self, X, Y):
        if self.init != "auto":
            return self.init == "cca"
        if max(X.shape[1], Y.shape[1]) <= MAX_START_WIDTH:
            return True
        one_process = not self.distributed
        return start_coordinates(X, Y, X.shape[0], one_process) != "columns"

    def _races(self, early, incremental):
        """Whether ``init="auto"`` trains from a random start too, beside
        the linear one, and keeps the better on the held-out rows: in a
        ``fit`` that validates, without a checkpoint to resume, of a network
        with a nonlinear branch (a linear one starts at its own optimum)."""
        return (
            self.init == "auto"
            and bool(early)
            and not incremental
            and self.checkpoint_path is None
            and bool(self._layer_sizes("hidden_layer_sizes"))
        )

    def _race(self, random_start, data, scorer, ranks):
        """Train from the linear start and from ``random_start`` (the
        module's initial random weights, rank 0's in a distributed fit: an
        ``init="random"`` fit's start) in lockstep, each with its own
        optimiser and history, and keep the run that scored better on the
        held-out rows (see :func:`._training.race`: a run that falls behind
        stops early; the linear start's run is kept on a tie, and where it
        kept its start the random run must beat that by ``tol``, as the
        linear run's own epochs had to)."""
        rival = copy.deepcopy(self.module_)
        rival.load_state_dict(random_start)
        trainer = self._trainer(ranks)
        optimizer = make_optimizer(self.solver, rival)
        # The rival shuffles as the linear run does, from a copy of its
        # generator: the linear run trains as it would alone (as an
        # init="cca" fit, or one resumed from a checkpoint, does).
        rng = copy.deepcopy(self._rng)
        rival_trainer = Trainer(
            rival, optimizer, trainer.objective, ranks, trainer.schedule, rng
        )
        histories = (self._history, History())
        for history in histories:
            history.start_validation()
        kept = race(
            (trainer, histories[0], "CCA start"),
            (rival_trainer, histories[1], "random start"),
            (*data, self._stats_on_device()),
            self.max_iter,
            scorer,
        )
        if kept:
            self.module_, self._optimizer, self._rng = rival, optimizer, rng
            self._kept_trainer, self._history = rival_trainer, histories[1]
            self.init_, self.linear_start_ridge_ = "random", None
        self._finish_run()

    def _fit_readouts(self, X, Y, rows, ranks):
        """The least-squares maps from each view's latent to the other view,
        over the paired ``rows`` (None: all), that ``predict`` and
        ``predict_x`` decode with where the decoders are linear: the
        decoders serve the training loss, which shares each among three
        latents and leaves it wherever early stopping ends (None with
        deeper decoders, which predict themselves)."""
        self._readouts = None
        if not self._layer_sizes("decoder_layer_sizes"):
            stats = self._stats_on_device()
            readouts = cross_readouts(self.module_, X, Y, stats, rows, ranks)
            self._readouts = dict(zip("xy", readouts))

    def _start_linear(self, X, Y, rows, ranks, final):
        """Set the network to the closed-form ridge CCA of the training rows;
        ``final``: no training follows, so the ridge's CV is worth more draws
        (on fewer than ``_MAX_REDRAWN_ROWS`` rows), and may go on to ridges
        towards PLS."""
        redraw = (
            final
            and max(X.shape[1], Y.shape[1]) <= _MAX_REDRAWN_FEATURES
            and ranks.sum([len(rows)])[0] < _MAX_REDRAWN_ROWS
        )
        ridge, encoders, decoders = linear_start(
            X,
            Y,
            self._stats_on_device(torch.float64),
            rows,
            self.n_components,
            self._rng,
            ranks,
            n_draws=_START_CV_DRAWS if redraw else 1,
            extended=PLS_RIDGES if final else (),
        )
        self.module_.start_from(
            [w.to(self.device_) for w in encoders],
            [d.to(self.device_) for d in decoders],
        )
        self.linear_start_ridge_ = ridge

    def _held_out_scorer(self, X, Y, stats, rows, val_rows, paired, ranks):
        """The early-stopping score of the latents on the held-out paired rows.

        A k x k CCA of the latents is fitted on up to
        ``max(_MIN_SCORE_FIT_ROWS, _SCORE_FIT_ROWS_PER_UNIT * k)`` training
        rows drawn once per fit. Without a ranking term, its
        correlations are summed on the held-out rows; with one, the score is
        the mean reciprocal rank of retrieval among up to ``_MAX_RANK_ROWS``
        held-out rows per process, in the same canonical space.
        """
        fit_rows = np.intersect1d(rows, paired, assume_unique=True)
        n_fit = max(_MIN_SCORE_FIT_ROWS, _SCORE_FIT_ROWS_PER_UNIT * self.n_components)
        if len(fit_rows) > n_fit:
            fit_rows = np.sort(self._rng.choice(fit_rows, n_fit, replace=False))
        val_rows = np.intersect1d(val_rows, paired, assume_unique=True)
        if self.ranking_weight == 0:
            return lambda module: held_out_total_correlation(
                module, X, Y, stats, fit_rows, val_rows, ranks
            )
        if len(val_rows) > _MAX_RANK_ROWS:
            val_rows = np.sort(
                self._rng.choice(val_rows, _MAX_RANK_ROWS, replace=False)
            )
        return lambda module: held_out_mean_reciprocal_rank(
            module, X, Y, stats, fit_rows, val_rows, ranks
        )

    def _resume(self, X, Y, ranks):
        """The checkpoint's keys, and the state it holds restored (if any).

        Every rank fingerprints its own rows; a saved checkpoint must match
        each rank's fingerprint, or the fit is refused. Returns ``keys``
        (saved with every later checkpoint) and where the checkpointed fit
        stopped: (best weights, epochs done, whether it had finished), or
        None.
        """
        prints = ranks.gather(fingerprint(X, Y, self.get_params()))
        keys = {"format": _CHECKPOINT_FORMAT, "fingerprints": prints}
        saved = ranks.agree(lambda: load_checkpoint(self.checkpoint_path))
        if saved is None:
            return keys, None
        same = (
            saved.get("format") == _CHECKPOINT_FORMAT
            and np.array_equal(np.asarray(saved["fingerprints"]), prints)
        )
        if not same:
            raise ValueError(
                f"checkpoint_path={os.fspath(self.checkpoint_path)!r} holds a fit of "
                "other data or other parameters; move it away (or set another path) "
                "to start afresh (a checkpoint of an older skcorrnet is refused too)."
            )
        self._restore(saved, ranks)
        return keys, (saved["best_state"], saved["epoch"], saved["finished"])

    def _restore(self, saved, ranks):
        """Set the training state to a checkpoint's (this rank's random state)."""
        self.module_.load_state_dict(saved["module"])
        self._optimizer.load_state_dict(saved["optimizer"])
        packed = np.asarray(saved["rng"][ranks.rank])
        self._rng.set_state(
            ("MT19937", packed[:-3].astype(np.uint32), int(packed[-3]),
             int(packed[-2]), float(packed[-1]))
        )  # fmt: skip
        self._set_scaling(_saved_moments(saved))
        self._history = History.from_state(saved)
        self._history.publish(self)

    def _stream_checkpoint(self, X, Y, ranks, reset, device):
        """``partial_fit``'s checkpoint: restore it, or replay the stream.

        A fresh estimator whose checkpoint exists restores it, then replays:
        each call's chunk must be the next one the checkpoint trained on (same
        fingerprint) and is skipped, so a stream restarted from its beginning
        resumes at its first new chunk. Returns (whether to train on the
        chunk, whether a checkpoint was restored).
        """
        prints = ranks.gather(fingerprint(X, Y, self.get_params()))
        restored = False
        if reset:
            self._stream, self._replayed = [], 0
            saved = ranks.agree(lambda: load_checkpoint(self.checkpoint_path))
            if saved is not None:
                if saved.get("format") != _CHECKPOINT_FORMAT or "chunks" not in saved:
                    raise ValueError(
                        f"checkpoint_path={os.fspath(self.checkpoint_path)!r} holds "
                        "a fit, not a partial_fit stream; move it away to start afresh."
                    )
                self._initialize(X, Y, _saved_moments(saved), device)
                self._restore(saved, ranks)
                self._rotation, self._readouts = (
                    saved[name] and {
                        v: tuple(np.asarray(a) for a in saved[name][v]) for v in "xy"
                    }
                    for name in ("rotation", "readouts")
                )
                self.canonical_correlations_ = saved["canonical_correlations_"]
                if self.canonical_correlations_ is not None:
                    self.canonical_correlations_ = np.asarray(
                        self.canonical_correlations_
                    )
                self._stream = [np.asarray(c) for c in saved["chunks"]]
                restored = True
        position = self._replayed
        self._replayed += 1
        if position < len(self._stream):
            if not np.array_equal(self._stream[position], prints):
                raise ValueError(
                    f"Chunk {position} of this stream differs from the chunk "
                    f"{os.fspath(self.checkpoint_path)!r} trained on (other rows, "
                    "order or parameters): replay the stream from its start."
                )
            return False, restored
        self._stream.append(prints)
        return True, restored

    def _save(self, keys, ranks, best_state=None, epoch=1, finished=False):
        """Checkpoint the training state with ``keys``: every rank's random
        state is gathered, and rank 0 writes."""
        rngs = ranks.gather(_packed_rng(self._rng))
        if ranks.rank == 0:
            state = self._training_state(best_state, epoch, finished)
            save_checkpoint(self.checkpoint_path, {**keys, **state, "rng": rngs})

    def _save_stream(self, ranks):
        """After a ``partial_fit`` call: the state, the rotation and
        readouts, the chunks."""
        self._save(
            {"format": _CHECKPOINT_FORMAT, "chunks": self._stream,
             "rotation": self._rotation, "readouts": self._readouts,
             "canonical_correlations_": self.canonical_correlations_},
            ranks,
        )  # fmt: skip

    def _training_state(self, best_state, epoch, finished):
        """What a checkpoint holds after ``epoch`` epochs of this fit (with
        every rank's random state, which :meth:`_save` gathers)."""
        return {
            "module": self.module_.state_dict(),
            "optimizer": self._optimizer.state_dict(),
            "moments": {
                v: tuple(np.asarray(m, dtype=np.float64) for m in self._moments[v])
                for v in ("x", "y")
            },
            **self._history.state(),
            "best_state": best_state,
            "epoch": epoch,
            "finished": finished,
        }

    def _scan(self, X, Y):
        """Each view's :class:`ViewScan` of this call's rows, and the present views.

        Returns ``({"x": scan, "y": scan}, present)``; ``present`` is
        None unless ``allow_missing_views`` and some rows miss a view.
        """
        allow_nan = self.allow_missing_views
        scans = {
            view: scan_view(A, _NAMES[view], allow_nan=allow_nan, check=is_streamed(A))
            for view, A in (("x", X), ("y", Y))
        }
        present = _present_views(scans["x"], scans["y"]) if allow_nan else None
        return scans, present

    def _validate_xy(self, X, y, reset):
        """X and 2-d Y as training reads them (see :meth:`_check_view`)."""
        if y is None:
            raise ValueError(
                "CorrNet requires y to be passed, but the target y is None: "
                "fit(X, y) needs the second view."
            )
        check_consistent_length(X, y)
        X = self._check_view(X, "X", reset=reset, fitting=True)
        return X, self._validate_y(y, reset=reset, fitting=True)

    def _check_view(self, A, name, reset=False, fitting=False):
        """A view as CorrNet reads it, validated without a full copy.

        In-memory data go through ``check_array`` (float32 stays float32,
        anything else becomes float64). A streamed view (``np.memmap``, h5py
        dataset, ...) is only checked for shape and dtype here; its values
        are checked as they are read. Sparse views become CSR.
        """
        finite = "allow-nan" if fitting and self.allow_missing_views else True
        if is_streamed(A):
            if name == "X":
                A = validate_data(self, A, skip_check_array=True, reset=reset)
            return check_streamed(A, name, min_rows=2 if fitting else 1)
        params = dict(
            accept_sparse=("csr", "csc"),
            dtype=FLOAT_DTYPES,
            ensure_min_samples=2 if fitting else 1,
            ensure_all_finite=finite,
        )
        if name == "X":
            A = validate_data(self, A, reset=reset, **params)
        else:
            A = check_array(A, input_name="y", ensure_2d=False, **params)
        return A.tocsr() if sp.issparse(A) else A

    def _check_n_targets(self, Y):
        if Y.shape[1] != self.n_targets_:
            raise ValueError(
                f"y has {Y.shape[1]} features, but CorrNet is expecting "
                f"{self.n_targets_} features as input."
            )

    def _initialize(self, X, Y, moments, device):
        self._rng = check_random_state(self.random_state)
        self.device_ = str(device)
        # Sparse views are scaled but not centred (centring would densify them).
        self._centred = {"x": not sp.issparse(X), "y": not sp.issparse(Y)}
        self._set_scaling(moments)
        generator = torch.Generator().manual_seed(
            int(self._rng.randint(np.iinfo(np.int32).max))
        )
        self.module_ = CorrNetModule(
            X.shape[1],
            Y.shape[1],
            self.n_components,
            self._layer_sizes("hidden_layer_sizes"),
            self._layer_sizes("decoder_layer_sizes"),
            self.activation,
            self.latent_activation,
            generator,
        ).to(self.device_)
        self._optimizer = make_optimizer(self.solver, self.module_)
        self._kept_trainer = None
        self._n_features_out = self.n_components
        self._history = History()
        self._history.publish(self)
        self.linear_start_ridge_ = None

    def _set_scaling(self, moments):
        """Keep the views' running moments; refresh the scaling statistics.

        ``fit`` scans all rows at once; ``partial_fit`` merges each chunk into
        the moments, as StandardScaler.partial_fit does, so the statistics
        converge to those of the whole stream instead of depending on the
        first chunk. With missing views, each view's moments use the rows
        where it is present; in a distributed fit, the rows of every rank.
        """
        self._moments = moments
        for view in ("x", "y"):
            _, mean, _ = self._moments[view]
            if not self._centred[view]:
                mean = np.zeros_like(mean)
            if self.scale:
                std = moments_std(self._moments[view])
            else:
                std = np.ones_like(mean)
            setattr(self, f"{view}_mean_", mean)
            setattr(self, f"{view}_std_", std)

    def _fit_canonical(self, X, Y, rows=None, ranks=LOCAL):
        """Fit the k x k linear CCA that orders and decorrelates the latents.

        ``rows`` (sorted indices, default all) are the paired rows to fit on;
        in a distributed fit, every rank's rows are.
        """
        if not self.canonical:
            self._rotation = None
            self.canonical_correlations_ = None
            return
        # Stream the latents' joint moments (no n x k copy is kept), in
        # float64 for float64 input, as transform will compute them.
        net_x, dtype_x = self._network(X)
        net_y, dtype_y = self._network(Y)
        stats = (self._stats_on_device(dtype_x)[0], self._stats_on_device(dtype_y)[1])
        moments = latent_moments((net_x, net_y), X, Y, stats, rows, ranks)
        cca = fit_linear_cca_from_moments(moments, self.n_components, invertible=True)
        # Each variate is scaled by its correlation, so cosines and distances
        # between components weigh a direction by how reliably it is shared
        # (a retrieval gain measured in benchmarks/ranking.py).
        scale = np.maximum(cca.correlations, _MIN_COMPONENT_SCALE)
        self._rotation = {
            view: (mean, weights * scale, np.linalg.inv(weights) / scale[:, None])
            for view, mean, weights in (
                ("x", cca.mean_a, cca.weights_a),
                ("y", cca.mean_b, cca.weights_b),
            )
        }
        self.canonical_correlations_ = cca.correlations

    # ---------------------------------------------------------------- inference

    def _stats_on_device(self, dtype=torch.float32):
        """``(mean, scale, bound)`` tensors of both views, on the model's
        device (see :func:`._data.to_tensor`)."""

        def tensor(a):
            return torch.as_tensor(a, dtype=dtype, device=self.device_)

        def tensors(view):
            mean = tensor(getattr(self, f"{view}_mean_")) if self._centred[view] else None
            std = tensor(getattr(self, f"{view}_std_"))
            return mean, std, self._clip_bound(view, tensor)

        return tensors("x"), tensors("y")

    def _clip_bound(self, view, tensor):
        """``input_clip`` training standard deviations of each column, in the
        scaled units the network sees (0 for a constant column); None when
        ``input_clip`` is None."""
        if self.input_clip is None:
            return None
        spread = moments_spread(self._moments[view])
        return tensor(self.input_clip * spread / getattr(self, f"{view}_std_"))

    def _network(self, A):
        """The trained module in the precision of the data it is applied to.

        Inference runs in the input's precision: float64 input goes through a
        float64 copy of the (small) parameters, so outputs do not depend on
        how rows are grouped into float32 matrix products.
        """
        self.module_.eval()
        if output_dtype(A) == np.float32:
            return self.module_, torch.float32
        return self._module64, torch.float64

    def _latent(self, view, A):
        """Raw latent units h(x) or h(y) of the rows of A, in A's dtype."""
        module, dtype = self._network(A)
        stats = self._stats_on_device(dtype)[_INDEX[view]]
        encoder = module.encoder(view)
        return map_batches(
            lambda a: module.latent(encoder(a)),
            [A],
            [stats],
            names=self._checked(A, view),
        )

    @staticmethod
    def _checked(A, view):
        """``names`` for map_batches: check a streamed view's blocks as read."""
        return [_NAMES[view]] if is_streamed(A) else None

    def _embed(self, view, A):
        """Components of view ``view``: the latent, rotated when canonical."""
        h = self._latent(view, A)
        if self._rotation is not None:
            mean, weights, _ = self._rotation[view]
            h = (h - mean) @ weights
        return _finite_output(h, _NAMES[view]).astype(
            output_dtype(A), copy=False
        )

    def _reconstruct(self, source, target, A):
        """Rows of view ``target`` decoded from view ``source``, or from latents.

        ``source`` is "x" or "y" for data of that view (read out by least
        squares where there are readouts), None for latents (decoded).
        """
        if source is not None and getattr(self, "_readouts", None) is not None:
            return self._read_out(source, target, A)  # (None in older pickles)
        module, dtype = self._network(A)
        decode = module.decoder(target)
        if source is None:
            ones = torch.ones(self.n_components, dtype=dtype, device=self.device_)
            out = map_batches(decode, [A], [(None, ones, None)])  # latents as they are
        else:
            stats = self._stats_on_device(dtype)[_INDEX[source]]
            encoder = module.encoder(source)
            out = map_batches(
                lambda a: decode(module.latent(encoder(a))),
                [A],
                [stats],
                names=self._checked(A, source),
            )
        mean, std = getattr(self, f"{target}_mean_"), getattr(self, f"{target}_std_")
        out = _finite_output(out * std + mean, _NAMES[source])
        return out.astype(output_dtype(A), copy=False)

    def _read_out(self, source, target, A):
        """Rows of view ``target`` from the latent of view ``source``'s data
        ``A``, through the least-squares readout."""
        weight, bias = self._readouts[target]
        out = self._latent(source, A) @ weight.T + bias
        mean, std = getattr(self, f"{target}_mean_"), getattr(self, f"{target}_std_")
        out = _finite_output(out * std + mean, _NAMES[source])
        return out.astype(output_dtype(A), copy=False)

    def _validate_y(self, y, reset=False, fitting=False):
        """y as a 2-d view (see :meth:`_check_view`); ``reset`` records
        whether it was 1-d and its width, else they are checked."""
        Y = self._check_view(y, "y", reset=reset, fitting=fitting)
        one_d = Y.ndim == 1
        if one_d:
            Y = Y.reshape(-1, 1)
        if reset:
            self._predict_1d = one_d
            self.n_targets_ = Y.shape[1]
        else:
            self._check_n_targets(Y)
        return Y

    def transform(self, X, y=None):
        """Embed X, or X and y, in the common space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            First view.

        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Second view.

        Returns
        -------
        x_scores : ndarray of shape (n_samples, n_components)
            Components of X when y is None.

        (x_scores, y_scores) : tuple of ndarray
            Components of X and of y when y is given.
        """
        check_is_fitted(self)
        X = self._check_view(X, "X")
        x_scores = self._embed("x", X)
        if y is None:
            return x_scores
        return x_scores, self.transform_y(y)

    def fit_transform(self, X, y=None):
        """Fit to (X, y) and return the components of X.

        Unlike CCA's, this returns the components of X alone (the scikit-learn
        transformer contract, so CorrNet can sit inside a Pipeline); use
        ``fit(X, y).transform(X, y)`` for both views.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            First view.

        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Second view. Required, despite the default.

        Returns
        -------
        x_scores : ndarray of shape (n_samples, n_components)
        """
        return self.fit(X, y).transform(X)

    def transform_y(self, y):
        """Embed the second view alone (for example, a catalogue with no X).

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        y_scores : ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        return self._embed("y", self._validate_y(y))

    def predict(self, X):
        """Reconstruct y from X alone.

        With linear decoders (the default), y is the least-squares
        regression of y on the x latent over the paired training rows, as
        CCA's predict regresses y on its x scores; else the y decoder's
        output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            1-d when y was 1-d at fit.
        """
        check_is_fitted(self)
        X = self._check_view(X, "X")
        y_pred = self._reconstruct("x", "y", X)
        return y_pred.ravel() if self._predict_1d else y_pred

    def predict_x(self, y):
        """Reconstruct X from y alone (through a least-squares readout, as
        :meth:`predict`).

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        X_pred : ndarray of shape (n_samples, `n_features_in_`)
        """
        check_is_fitted(self)
        return self._reconstruct("y", "x", self._validate_y(y))

    def _latent_from_scores(self, view, Z, name):
        Z = check_array(Z, input_name=name, dtype=FLOAT_DTYPES)
        if Z.shape[1] != self.n_components:
            raise ValueError(
                f"{name} has {Z.shape[1]} columns, but CorrNet has "
                f"{self.n_components} components."
            )
        if self._rotation is None:
            return Z
        mean, _, inverse = self._rotation[view]
        return (Z @ inverse + mean).astype(Z.dtype, copy=False)

    def score(self, X, y, sample_weight=None):
        """R² of ``predict(X)`` against y, as :class:`~sklearn.base.RegressorMixin`'s.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            The coefficient of determination, averaged over y's columns.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            score = super().score(X, y, sample_weight=sample_weight)
        if not np.isfinite(score):
            raise ValueError(
                "The R² is not finite: y has values whose squares overflow float64 "
                "(beyond about 1e154); rescale y."
            )
        return score

    def inverse_transform(self, X, y=None):
        """Map components back to the data spaces through the decoders.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Components of X (from ``transform``).

        y : array-like of shape (n_samples, n_components), default=None
            Components of y.

        Returns
        -------
        X_reconstructed : ndarray of shape (n_samples, `n_features_in_`)
            X decoded from its components.

        y_reconstructed : ndarray of shape (n_samples, `n_targets_`)
            y decoded from its components; only returned when y is given.
        """
        check_is_fitted(self)
        hx = self._latent_from_scores("x", X, "X")
        X_rec = self._reconstruct(None, "x", hx)
        if y is None:
            return X_rec
        hy = self._latent_from_scores("y", y, "y")
        return X_rec, self._reconstruct(None, "y", hy)

    # -------------------------------------------------------------- persistence

    def __getstate__(self):
        # Tensors go to the CPU, so a model trained on a GPU unpickles anywhere.
        # (A copy: object.__getstate__ returns the instance's own __dict__.)
        state = dict(super().__getstate__())
        # The kept trainer (it may hold a DDP wrapper) and the float64 copy
        # of the network are rebuilt when needed.
        state.pop("_kept_trainer", None)
        state.pop("_module64", None)
        if "module_" in state:
            state["module_"] = copy.deepcopy(self.module_).cpu()
        if "_optimizer" in state:
            state["_optimizer"] = _to_cpu(self._optimizer.state_dict())
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "module_" not in state:
            return
        device = torch.device(self.device_)
        if device.type == "cuda" and not torch.cuda.is_available():
            warnings.warn(
                f"This CorrNet was trained on {self.device_}, which is not "
                "available here; it was loaded on the CPU.",
                UserWarning,
            )
            self.device_ = "cpu"
        self.module_.to(self.device_)
        self._keep_float64_copy()
        optimizer_state = self._optimizer
        self._optimizer = make_optimizer(self.solver, self.module_)
        self._optimizer.load_state_dict(optimizer_state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.regressor_tags.poor_score = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        return tags
