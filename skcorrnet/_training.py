"""The training run of a CorrNetModule, and batched inference.

:class:`Trainer` runs the epochs of a fit: it plans each epoch's batches, takes
the optimiser steps (through DistributedDataParallel in a distributed fit),
records each epoch in a :class:`History`, stops when the loss or the
validation score stops improving, logs on rank 0 and restores the kept
weights (the best epoch's, or a later epoch's within its noise). :func:`race`
trains two such runs in lockstep and stops the one that falls behind.

Data stay where the caller keeps them (a numpy array, a memmap, a sparse
matrix): each batch's rows are read, converted to float32 and standardised on
the target device (:mod:`._data`), so the memory used beyond the inputs is
O(batch), never a full copy. Streamed views (memmaps, h5py datasets) are read
in shuffled blocks of contiguous rows, so the disk is read sequentially.
"""

import copy
import functools
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits
from torch import nn

from ._data import (
    is_streamed,
    read_rows,
    row_blocks,
    row_nbytes,
    stage_on_device,
    to_tensor,
)
from ._distributed import LOCAL
from ._objective import RECONSTRUCTION_TERMS, TERMS, Settings, corrnet_loss
from ._progress import EpochProgress

__all__ = [
    "SOLVERS",
    "History",
    "Schedule",
    "Trainer",
    "TrainingStep",
    "auto_rate",
    "make_optimizer",
    "map_batches",
    "race",
    "resolve_device",
    "set_learning_rate",
]

SOLVERS = {
    "adam": torch.optim.Adam,
    "rmsprop": torch.optim.RMSprop,  # the original CorrNet's optimiser
    "sgd": torch.optim.SGD,
}

# Streamed views are read a buffer at a time: about this many bytes of rows
# (both views), gathered from _BUFFER_BLOCKS contiguous blocks drawn at random,
# shuffled within the buffer and cut into batches.
_BUFFER_BYTES = 64 * 2**20
_BUFFER_BLOCKS = 16


def _one_blas_thread(method):
    """Run ``method`` with numpy's BLAS on one thread.

    Torch's threads and numpy's BLAS threads (the early-stopping score's
    moments and k x k CCA) take turns on the same cores, and OpenBLAS's
    workers keep spinning for a while after each multithreaded call: the
    torch steps that follow a score then share their cores with them. The
    score's numpy work is only k wide, so one thread is enough for it.
    """

    @functools.wraps(method)
    def limited(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return method(*args, **kwargs)

    return limited


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
    if resolved.type == "cuda" and (resolved.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device={device!r} was requested but this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)."
        )
    return resolved


def make_optimizer(solver, module):
    """The torch optimiser named by the estimator's ``solver``, over ``module``.

    Two parameter groups: the weights, which the L2 penalty ``alpha`` acts
    on through the group's ``weight_decay`` (set each step by
    :meth:`Trainer.epoch`), and the biases. Their learning rate is set at
    each epoch (:func:`set_learning_rate` to :meth:`Schedule.rate`).
    """
    named = list(module.named_parameters())
    groups = [
        {"params": [w for name, w in named if "weight" in name], "weight_decay": 0.0},
        {"params": [b for name, b in named if "weight" not in name]},
    ]
    # fused: Adam's and SGD's whole update in one kernel per parameter (on
    # the CPU since torch 2.4); else foreach: one kernel per operation over
    # every tensor of a group. Both are opt-in on the CPU.
    optimizer = SOLVERS[solver]
    if solver != "rmsprop":  # torch has no fused RMSprop
        try:
            return optimizer(groups, lr=AUTO_RATE, fused=True)
        except RuntimeError:  # an older torch, or a device without the kernels
            pass
    return optimizer(groups, lr=AUTO_RATE, foreach=True)


def set_learning_rate(optimizer, rate):
    """Step every parameter group of ``optimizer`` at ``rate`` from now on."""
    for group in optimizer.param_groups:
        group["lr"] = rate


def _decay_weights(optimizer, alpha, n_rows):
    """Apply MLPRegressor's L2 penalty ``0.5 * alpha * ||weights||^2 / n_rows``
    at the next step: its gradient, ``alpha / n_rows * w``, is the weight
    group's ``weight_decay`` (Adam, RMSprop and SGD add ``weight_decay * w``
    to the gradient). Cheaper than a penalty term in the loss, which costs
    a few kernel launches per weight matrix forward and backward."""
    optimizer.param_groups[0]["weight_decay"] = alpha / max(n_rows, 1)


class TrainingStep(nn.Module):
    """A batch's CorrNet loss as a module, so that DDP sees the whole step.

    In a distributed fit the correlation and ranking terms are those of the
    global batch: every rank's paired latents are gathered, and each rank's
    gradient holds its own rows' share of them. DDP averages the ranks'
    gradients, so the loss is multiplied by the number of ranks: the average
    is then exactly the gradient of the global batch's loss, as one process
    would compute it on all the rows.
    """

    def __init__(self, network, objective, ranks=LOCAL):
        super().__init__()
        self.network = network
        self.objective = objective
        self.ranks = ranks

    def forward(self, x, y, present, sizes):
        """Loss and terms of this rank's rows (x, y) of a global batch.

        ``sizes`` (world_size, 2) holds each rank's rows and paired rows in
        the global batch.
        """
        gather = None
        if self.ranks.world_size > 1:
            gather = functools.partial(self.ranks.gather_rows, counts=sizes[:, 0])
        n_rows, n_paired = (int(n) for n in sizes.sum(axis=0))
        loss, terms = corrnet_loss(
            self.network,
            x,
            y,
            self.objective,
            present,
            gather,
            (n_paired, n_rows - n_paired),
        )
        return loss * self.ranks.world_size, terms


def _batches(rows, n_batches, rng, paired=None):
    """A shuffled epoch of ``rows`` split into ``n_batches`` near-equal batches.

    An even split means no batch is ever much smaller than the others (a
    trailing batch of one row would carry no correlation signal). Rows are
    sorted within a batch: the loss does not depend on their order, and
    sorted reads are faster.

    With ``paired`` (a mask over ``rows``; the others have one view only),
    the paired rows and the one-view rows are each shuffled and spread evenly
    over the batches, so every batch holds its share of paired rows for the
    correlation term (:func:`_share` counts batches by paired rows then).
    """
    groups = [rows] if paired is None else [rows[paired], rows[~paired]]
    parts = [
        np.array_split(group[rng.permutation(len(group))], n_batches)
        for group in groups
    ]
    return [np.sort(np.concatenate(batch)) for batch in zip(*parts)]


def _share(rows, present, ranks):
    """``(local, total, by_paired)``: what this rank's batches are counted by.

    An epoch has ceil(total / batch_size) batches of the global batch, and
    each rank splits its rows into as many batches, so that every step's
    global batch holds about ``batch_size`` rows. With missing views, the
    count is of paired rows (each batch then holds ``batch_size`` paired
    rows, as without the one-view rows: on fewer the correlation term
    overfits, tried), unless this rank has none.
    """
    n_local = len(rows)
    paired_local = n_local
    if present is not None:
        paired_local = int((present[0] & present[1])[rows].sum())
    n_total, paired_total = ranks.sum([n_local, paired_local]).astype(int)
    if paired_total < n_total and paired_local > 0:
        return paired_local, paired_total, True
    return n_local, n_total, False


def _n_batches(count, batch_size, share):
    """Batches for ``count`` of this rank's rows: ceil(count / its per-batch share)."""
    local, total, _ = share
    return max(1, -(-(count * total) // (batch_size * local)))


def _present_tensors(present, rows, device):
    """The (has_x, has_y) masks of ``rows`` as tensors; None when all are paired."""
    if present is None:
        return None
    return tuple(_on_device(mask[rows], device) for mask in present)


def _on_device(array, device):
    """A numpy array of a batch (row indices, masks) as a tensor on
    ``device``, pinned first on a GPU: a copy from pageable memory would make
    the host wait for the GPU at every step."""
    tensor = torch.from_numpy(np.asarray(array))
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def _read(A, rows, index):
    """Rows of a view: gathered by ``index`` for a tensor staged on the
    device, else read."""
    if torch.is_tensor(A):
        return A[rows if isinstance(rows, slice) else index]
    return read_rows(A, rows)


def _batch_tensors(X, Y, rows, stats, present):
    """Standardised rows of both views; a missing view's NaNs become zeros."""
    staged = [A.device for A in (X, Y) if torch.is_tensor(A)]
    index = None  # one copy of the rows serves both staged views
    if staged and not isinstance(rows, slice):
        index = _on_device(rows, staged[0])
    x = to_tensor(_read(X, rows, index), stats[0])
    y = to_tensor(_read(Y, rows, index), stats[1])
    if present is not None:  # sparse views hold no NaN (scan_view checks)
        x, y = (t if t.is_sparse_csr else torch.nan_to_num(t, nan=0.0) for t in (x, y))
    return x, y


def _concat(blocks):
    if sp.issparse(blocks[0]):
        return sp.vstack(blocks, format="csr")
    return np.concatenate(blocks)


def _epoch_parts(X, Y, rows, batch_size, rng, present):
    """The parts of an epoch: ``(blocks, its training rows, its masks)``.

    In-memory views are one part (``blocks`` None), indexed in place. When
    either view is streamed, the rows are split into contiguous blocks; each
    part is a buffer of ``_BUFFER_BLOCKS`` blocks drawn at random (read in
    file order, so reads are sequential), about ``_BUFFER_BYTES`` in all.
    Batches are shuffled within a buffer: rows far apart in the file meet in
    a batch when their blocks share a buffer, which a fresh draw each epoch
    varies. Parts are planned here and read by :func:`_read_part`.
    """
    if not (is_streamed(X) or is_streamed(Y)):
        return [(None, rows, present)]
    n_rows = X.shape[0]
    per_row = row_nbytes(X) + row_nbytes(Y)
    buffer_rows = max(batch_size, int(_BUFFER_BYTES // per_row))
    block_rows = max(1, buffer_rows // _BUFFER_BLOCKS)
    starts = np.arange(0, n_rows, block_rows)
    training = np.zeros(n_rows, dtype=bool)
    training[rows] = True
    order = rng.permutation(len(starts))
    parts = []
    for group in np.array_split(order, -(-len(starts) // _BUFFER_BLOCKS)):
        blocks = [slice(s, min(s + block_rows, n_rows)) for s in starts[np.sort(group)]]
        index = np.concatenate([np.arange(b.start, b.stop) for b in blocks])
        local = np.flatnonzero(training[index])
        if len(local):
            masks = None if present is None else tuple(m[index] for m in present)
            parts.append((blocks, local, masks))
    return parts


def _read_part(X, Y, blocks):
    """A part's (X, Y): the views themselves, or their blocks read and joined."""
    if blocks is None:
        return X, Y
    return (
        _concat([read_rows(X, b) for b in blocks]),
        _concat([read_rows(Y, b) for b in blocks]),
    )


def _plan_epoch(X, Y, rows, batch_of, rng, present, ranks):
    """This rank's batches, and every rank's batch sizes at every step;
    ``batch_of(n)``: the rows per batch of an epoch that batches ``n`` rows
    of every rank (paired ones, with missing views: see :func:`_share`).

    Returns
    -------
    steps : list of (int, ndarray)
        Part index and batch rows (indices into the part) of each step.
    parts : list
        From :func:`_epoch_parts`.
    sizes : ndarray of shape (world_size, n_steps, 2)
        Rows and paired rows of each rank's batch at each step; ranks with
        fewer batches than the most take part in the last steps with none,
        so that every rank takes the same number of optimiser steps.
    """
    share = _share(rows, present, ranks)
    batch_size = batch_of(share[1])
    parts = _epoch_parts(X, Y, rows, batch_size, rng, present)
    steps, local_sizes = [], []
    for index, (_, part_rows, part_present) in enumerate(parts):
        both = paired = None
        if part_present is not None:
            both = part_present[0] & part_present[1]  # once per part, not per batch
            paired = both[part_rows]
        count = len(part_rows) if paired is None or not share[2] else paired.sum()
        for batch in _batches(
            part_rows, _n_batches(int(count), batch_size, share), rng, paired
        ):
            steps.append((index, batch))
            n_paired = len(batch) if both is None else int(both[batch].sum())
            local_sizes.append((len(batch), n_paired))
    n_steps = int(ranks.gather(np.array([len(steps)])).max())
    padded = np.zeros((n_steps, 2), dtype=np.int64)
    padded[: len(local_sizes)] = local_sizes
    return steps, parts, ranks.gather(padded)


# learning_rate_init="auto": 1e-2 at 50 optimiser steps an epoch, as
# 1 / sqrt(steps) around, at most AUTO_RATE (up to AUTO_STEPS steps), or with
# a ranking term at most RANKING_RATE.
AUTO_RATE, AUTO_STEPS = 2e-2, 12.5
RANKING_RATE = 1e-2
# tol="auto" without early stopping: MLPRegressor's tol on the training loss.
AUTO_LOSS_TOL = 1e-4
# A validation score more than FALL_ERRORS of its standard errors below the
# reference at FALL_EPOCHS epochs in a row is falling (see History).
FALL_ERRORS, FALL_EPOCHS = 3.0, 3
# With early stopping, the weights kept are those of the last epoch scoring
# within KEEP_ERRORS standard errors of the best (see History.near_best).
KEEP_ERRORS = 0.5
# With early stopping, a fit that would stop goes back to its kept weights and
# trains on at ANNEAL_RATE times the learning rate while each epoch beats the
# best (see History.settle; None: it stops).
ANNEAL_RATE = 0.2
# In a race of two runs, a run behind the other at BEHIND_CHECKS epochs in a
# row stops (see race).
BEHIND_CHECKS = 2


# batch_size="auto": AUTO_BATCH_PER_UNIT rows per latent unit, at least
# AUTO_BATCH_MIN, and at most 1 / AUTO_BATCH_STEPS of the training rows.
AUTO_BATCH_MIN, AUTO_BATCH_PER_UNIT, AUTO_BATCH_STEPS = 128, 8, 20


def auto_batch(n_rows, n_components):
    """``batch_size="auto"``'s rows per batch, for ``n_rows`` training rows
    and ``n_components`` latent units.

    The correlation term is estimated on each batch: on b rows, the squared
    canonical correlations of k units sum to about k^2 / b even where the
    views are unrelated, against at most k, so the estimate's bias is a
    share k / b of the term, and the batch grows with k to hold it (at
    k = 50, ``benchmarks/speed.py``'s fits score more in fewer epochs on
    400 rows a batch than they did on 128). An epoch keeps at least ``AUTO_BATCH_STEPS``
    steps, so that few rows still take steps enough between two
    early-stopping checks; and below ``AUTO_BATCH_MIN`` rows a batch only
    costs time.
    """
    wanted = min(AUTO_BATCH_PER_UNIT * n_components, n_rows // AUTO_BATCH_STEPS)
    return max(AUTO_BATCH_MIN, int(wanted))


def auto_rate(n_steps, ranking=False):
    """``learning_rate_init="auto"``'s rate in an epoch of ``n_steps`` steps,
    with a ranking term in the loss or not.

    It keeps the noise-driven drift of the weights between two validation
    checks (one per epoch) at most what 50 steps at 1e-2 give (``AUTO_STEPS``
    at ``AUTO_RATE``): that drift grows as rate * sqrt(steps). On many rows
    an epoch at a fixed rate can drift past the best weights before early
    stopping sees them (``benchmarks/speed.py``); on a few thousand rows an
    epoch holds few steps, and a rate held at 1e-2 left fits short of where
    early stopping's noisy checks let them reach (``benchmarks/defaults.py``).
    Capped at ``AUTO_RATE``, or ``RANKING_RATE`` with a ranking term, whose
    held-out retrieval fell at 2e-2 (``benchmarks/ranking.py``).
    """
    ceiling = RANKING_RATE if ranking else AUTO_RATE
    return min(ceiling, AUTO_RATE * (AUTO_STEPS / max(n_steps, 1)) ** 0.5)


@dataclass(frozen=True)
class Schedule(Settings):
    """How epochs are run and stopped: the estimator's parameters of the same
    names (:meth:`from_params`)."""

    batch_size: object  # int or "auto"
    n_components: int
    learning_rate_init: object  # float or "auto"
    ranking_weight: float
    max_iter: int
    tol: object  # float or "auto"
    n_iter_no_change: float
    verbose: int

    def batch(self, n_rows):
        """Rows per batch in an epoch over ``n_rows`` training rows (of
        every process; ``"auto"``: :func:`auto_batch`'s)."""
        if self.batch_size != "auto":
            return self.batch_size
        return auto_batch(n_rows, self.n_components)

    def rate(self, n_steps):
        """The learning rate of an epoch of ``n_steps`` optimiser steps
        (``"auto"``: :func:`auto_rate`'s)."""
        if self.learning_rate_init != "auto":
            return self.learning_rate_init
        return auto_rate(n_steps, ranking=self.ranking_weight > 0)

    def tolerance(self, standard_error=None):
        """The least improvement that counts: ``tol``, or for ``"auto"`` the
        validation score's ``standard_error`` (a smaller gain is not evidence
        that the weights got better: only the rows scored differ) and
        ``AUTO_LOSS_TOL`` on the training loss (no validation score)."""
        if self.tol != "auto":
            return self.tol
        return AUTO_LOSS_TOL if standard_error is None else standard_error

    def keep_margin(self, standard_error):
        """How far below the best validation score a later epoch may score
        and still be kept (see :meth:`History.near_best`): ``KEEP_ERRORS``
        standard errors of the correlation score; None with a ranking term,
        whose retrieval score ``benchmarks/kept_epoch.py`` does not measure
        (the best epoch is kept)."""
        if self.ranking_weight > 0 or standard_error is None:
            return None
        return KEEP_ERRORS * standard_error

    def start_margin(self, standard_error):
        """What an epoch must gain over the starting weights' validation
        score to replace them: the tolerance, where the score is the
        correlation the CCA start is the linear optimum of; 0 with a ranking
        term, whose retrieval score that start does not optimise."""
        return 0.0 if self.ranking_weight > 0 else self.tolerance(standard_error)


class History:
    """What the epochs of a fit recorded, under the estimator's attribute names.

    ``validation_scores_`` and ``best_validation_score_`` are None, and
    ``best_loss_`` the lowest training loss, until :meth:`start_validation`
    (early stopping), as in MLPRegressor.

    Stopping counts the epochs since the last one that beat the ``reference``
    by ``tol``: the score (or the negated loss) of that epoch, or the starting
    score. MLPRegressor compares with the best score instead, which every
    small gain raises, so a score that climbs by less than ``tol`` an epoch
    stops after ``n_iter_no_change`` epochs however far it has climbed; here
    it goes on while it gains ``tol`` in every ``n_iter_no_change`` epochs.

    Once an epoch has gained ``tol`` over the start, a validation score that
    is more than ``FALL_ERRORS`` standard errors below the reference at
    ``FALL_EPOCHS`` epochs in a row is falling, not noisy: the fit is past
    its best and stops then, not ``n_iter_no_change`` epochs after its last
    gain. Before the first gain the score may dip below the start while the
    optimiser leaves it, and only the count stops the fit.
    """

    # Estimator attributes (published after a run), then private state.
    PUBLIC = ("n_iter_", "loss_", "loss_curve_", "loss_terms_", "best_loss_",
              "validation_scores_", "best_validation_score_")  # fmt: skip
    STATE = PUBLIC + ("no_improvement_count", "reference", "falling_count",
                      "start_margin", "rate_factor")  # fmt: skip

    def __init__(self):
        self.n_iter_, self.loss_, self.loss_curve_ = 0, None, []
        self.loss_terms_ = {name: [] for name in TERMS}
        self.rate_factor = 1.0  # of the learning rate (see settle)
        self._judge_by_loss()

    def _judge_by_loss(self):
        """No validation: stopping follows the training loss from here on."""
        self.validation_scores_ = self.best_validation_score_ = None
        self.best_loss_, self.reference, self.no_improvement_count = np.inf, -np.inf, 0
        self.falling_count = None  # counted from the first gain of tol
        self.start_margin = None  # while the best weights are the start's

    def start_validation(self):
        """Score held-out rows from now on (once per estimator, kept by warm starts)."""
        if self.validation_scores_ is None:
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
            self.best_loss_ = None

    def stop_validation(self):
        """Judge by the training loss again: a warm start that turned early
        stopping off (``best_loss_`` is the lowest loss from here on)."""
        if self.validation_scores_ is not None:
            self._judge_by_loss()

    def start_score(self, score, margin):
        """The starting weights' validation score: the first best and
        reference; an epoch replaces the starting weights only by beating it
        by ``margin`` (``tol``: a smaller gain is not evidence that training
        improved on them)."""
        self.best_validation_score_ = self.reference = score
        self.start_margin = margin

    @property
    def bar(self):
        """The validation score an epoch must exceed to be the best: the best
        so far, plus ``start_margin`` while that is the start's."""
        return self.best_validation_score_ + (self.start_margin or 0.0)

    @property
    def kept_start(self):
        """Whether the best weights are still the starting ones (with early
        stopping: no epoch has beaten them by ``start_margin``)."""
        return self.start_margin is not None

    def add_epoch(self, terms):
        """Add an epoch's loss and terms; a non-finite loss is an error."""
        if not np.isfinite(terms["loss"]):
            raise ValueError(
                f"Training diverged at epoch {self.n_iter_ + 1} (loss is "
                f"{terms['loss']}); lower learning_rate_init."
            )
        self.n_iter_ += 1
        self.loss_ = terms["loss"]
        self.loss_curve_.append(terms["loss"])
        for name in TERMS:
            self.loss_terms_[name].append(terms[name])

    def improved(self, score, tol, error=None):
        """Judge the last epoch by its loss, or by its validation ``score``
        (not None with early stopping) and the score's standard ``error``;
        True when it is the best so far."""
        if score is None:
            value = -self.loss_
            improved = self.loss_ < self.best_loss_
            self.best_loss_ = min(self.loss_, self.best_loss_)
        else:
            value = score
            self.validation_scores_.append(score)
            improved = score > self.bar
            if improved:
                self.best_validation_score_, self.start_margin = score, None
        if value >= self.reference + tol:
            self.reference, self.no_improvement_count, self.falling_count = value, 0, 0
        else:
            self.no_improvement_count += 1
            if self.falling_count is not None:
                low = error is not None and value < self.reference - FALL_ERRORS * error
                self.falling_count = self.falling_count + 1 if low else 0
        return improved

    def near_best(self, score, margin):
        """Whether an epoch's validation ``score`` is within ``margin`` of the
        best (:meth:`Schedule.keep_margin`; None: never), once training has
        left the start: its weights are then kept instead of the best epoch's.

        On a few hundred or thousand held-out rows, the best score is the
        best of epochs whose scores differ by less than their noise; the later
        of two such epochs has trained more. ``benchmarks/kept_epoch.py``
        replays the stopping rule on recorded curves and compares the test
        scores of the epochs each rule keeps (the user guide gives them).
        """
        if score is None or margin is None or self.kept_start:
            return False
        return score >= self.best_validation_score_ - margin

    def falling(self):
        """Whether the validation score is falling (see the class docstring)."""
        return (self.falling_count or 0) >= FALL_EPOCHS

    def exhausted(self, n_iter_no_change):
        """Whether to stop: ``n_iter_no_change`` epochs without a gain of
        ``tol``, or a falling score (unless ``n_iter_no_change`` is infinite:
        no stopping)."""
        if self.no_improvement_count > n_iter_no_change:
            return True
        return bool(np.isfinite(n_iter_no_change) and self.falling())

    @property
    def annealing(self):
        """Whether the run trains on at a lowered rate (see :meth:`settle`)."""
        return self.rate_factor < 1.0

    def settle(self, n_iter_no_change, improved):
        """Whether to stop after an epoch (``improved``: it beat the best),
        by the rule of :meth:`exhausted`, and with validation scores a second
        chance: where that rule would stop, the run goes back to its kept
        weights and trains on at ``ANNEAL_RATE`` times the learning rate
        (``rate_factor``) while each epoch beats the best, stopping at the
        first that does not.

        The full-rate steps that took a fit to its best score jump around
        the optimum they approach: smaller steps from its kept weights settle
        nearer it. ``benchmarks/anneal.py`` compares the rule with stopping,
        and rates of 0.5, 0.2 and 0.1, by the test scores of real fits (the
        user guide gives the figures). Lowering the rate when the validation
        score stalls is ``ReduceLROnPlateau``'s rule; MLPRegressor's
        ``learning_rate="adaptive"`` also divides the rate by 5.
        """
        if self.annealing:
            return not improved
        if not self.exhausted(n_iter_no_change):
            return False
        if self.validation_scores_ is None or ANNEAL_RATE is None:
            return True
        self.rate_factor = ANNEAL_RATE
        return False

    def state(self):
        """Plain values, for a checkpoint."""
        return {name: getattr(self, name) for name in self.STATE}

    @classmethod
    def from_state(cls, state):
        history = cls()
        for name in cls.STATE:
            setattr(history, name, state[name])
        history.loss_terms_ = {t: list(state["loss_terms_"][t]) for t in TERMS}
        return history

    def publish(self, estimator):
        """Set the estimator's attributes of the same names."""
        for name in self.PUBLIC:
            setattr(estimator, name, getattr(self, name))


def staged(data):
    """Training ``data`` (X, Y, rows, present, stats) with in-memory views
    copied once to the GPU that ``stats`` are on (see
    :func:`._data.stage_on_device`; unchanged on the CPU)."""
    X, Y, rows, present, stats = data
    device = stats[0][1].device
    return stage_on_device(X, device), stage_on_device(Y, device), rows, present, stats


class Trainer:
    """The training run of a module: epochs, stopping, the kept weights.

    A trainer is kept across ``partial_fit`` calls (see :meth:`matches`), so a
    distributed fit wraps the module in DistributedDataParallel once.

    Parameters
    ----------
    module : CorrNetModule
    optimizer : torch.optim.Optimizer
    objective : Objective
    ranks : LocalRanks or Ranks
        The processes training together, each on its own rows.
    schedule : Schedule
    rng : numpy.random.RandomState
        Drives the shuffling.
    """

    def __init__(self, module, optimizer, objective, ranks, schedule, rng):
        self.module, self.optimizer, self.ranks = module, optimizer, ranks
        self.objective, self.schedule, self.rng = objective, schedule, rng
        # DDP (distributed) averages gradients over ranks; it starts every
        # rank from rank 0's weights.
        self.step = ranks.wrap(TrainingStep(module, objective, ranks))

    def matches(self, module, optimizer, objective, ranks, schedule, rng):
        """Whether this trainer runs these (the same objects and settings)."""
        same = (self.module, self.optimizer, self.ranks.group, self.rng)
        return all(a is b for a, b in zip(same, (module, optimizer, ranks.group, rng)))\
            and (self.objective, self.schedule) == (objective, schedule)

    @_one_blas_thread
    def run(self, data, history, n_epochs, scorer=None, may_stop=True, resume=None,
            on_epoch=None):  # fmt: skip
        """Run up to ``n_epochs`` epochs on ``data``; restore the kept weights.

        Parameters
        ----------
        data : tuple of (X, Y, rows, present, stats)
            The views, the rows to train on, which views each row has (None:
            all paired) and the standardisation tensors (see :meth:`epoch`).
        history : History
            Extended with each epoch.
        n_epochs : int
        scorer : callable, default=None
            The validation score of a module's current weights (higher is
            better) and its standard error: with it, the starting weights are
            scored too, and the weights of the last epoch within
            ``KEEP_ERRORS`` standard errors of the best score (or the start's,
            if no epoch beat it) are restored at the end.
            Else the loss decides.
        may_stop : bool, default=True
            Whether to stop after ``n_iter_no_change`` epochs without
            improvement, and warn when ``n_epochs`` run out (False for
            ``partial_fit``'s single pass).
        resume : tuple of (kept weights, epochs done, finished), default=None
            Where a checkpointed fit stopped.
        on_epoch : callable, default=None
            Called after each epoch with (kept weights, epochs done, finished).
        """
        epochs = self.epochs(
            staged(data), history, n_epochs, scorer, may_stop, resume, on_epoch
        )
        for _ in epochs:
            pass

    def epochs(self, data, history, n_epochs, scorer=None, may_stop=True,
               resume=None, on_epoch=None, label=None):  # fmt: skip
        """:meth:`run` (on :func:`staged` ``data``) as a generator: it yields
        after each epoch the standard error of the epoch's validation score
        (None without ``scorer``), and restores the kept weights when the
        epochs end. ``label`` names the run in the log (see :func:`race`)."""
        X, Y, rows, present, stats = data
        best_state, done, finished = resume or (None, 0, False)
        if not done:
            history.rate_factor = 1.0  # a warm start trains at the full rate again
        if scorer is not None and best_state is None:
            if history.best_validation_score_ == -np.inf:
                score, error = scorer(self.module)
                history.start_score(score, self.schedule.start_margin(error))
            # The weights training starts from are kept until an epoch
            # replaces them: the start's, or on a warm start the previous
            # fit's kept weights, whose score best_validation_score_ is.
            best_state = copy.deepcopy(self.module.state_dict())
        verbose = self.schedule.verbose and self.ranks.rank == 0
        epoch_rows = int(self.ranks.sum([len(rows)])[0])  # of every rank
        stop = False
        for epoch in range(done, 0 if finished else n_epochs):
            progress = EpochProgress(history.n_iter_ + 1, epoch_rows)
            terms = self.epoch(
                X, Y, rows, present, stats, progress if verbose else None,
                history.rate_factor,
            )  # fmt: skip
            terms["seconds"] = progress.close()
            # Every rank sees the same (all-reduced) loss and validation
            # score, so stopping decisions agree.
            history.add_epoch(terms)
            score, error = (None, None) if scorer is None else scorer(self.module)
            improved = history.improved(score, self.schedule.tolerance(error), error)
            if improved or history.near_best(score, self.schedule.keep_margin(error)):
                best_state = copy.deepcopy(self.module.state_dict())
            annealing = history.annealing
            stop = may_stop and history.settle(self.schedule.n_iter_no_change, improved)
            began = history.annealing and not annealing
            if began:
                self.module.load_state_dict(best_state)
            if verbose:
                self._log(history, terms, stop, label, began)
            if on_epoch is not None:
                on_epoch(best_state, epoch + 1, stop or epoch + 1 == n_epochs)
            yield error
            if stop:
                break
        if may_stop and not stop and n_epochs and not finished:
            warnings.warn(
                f"CorrNet reached max_iter={self.schedule.max_iter} epochs without "
                "converging; consider increasing max_iter.",
                ConvergenceWarning,
            )
        if best_state is not None:
            self.module.load_state_dict(best_state)

    def _log(self, history, terms, stop, label=None, began=False):
        line = ", ".join(f"{name}={terms[name]:.4f}" for name in ("loss", *TERMS))
        line += f", learning rate={self.optimizer.param_groups[0]['lr']:.3g}"
        if history.validation_scores_:
            line += f", validation score={history.validation_scores_[-1]:.4f}"
        epoch = f"{label}, epoch" if label else "Epoch"
        print(f"{epoch} {history.n_iter_}: {line}, time={terms['seconds']:.1f} s")
        why = (
            f"Validation score more than {FALL_ERRORS:g} standard errors below "
            f"its last gain for {FALL_EPOCHS} epochs"
            if history.falling()
            else f"No improvement by tol={self.schedule.tol} in "
            f"{self.schedule.n_iter_no_change} epochs"
        )
        if began:
            print(
                f"{why}: back to the kept weights, training on at {ANNEAL_RATE:g} "
                "times the learning rate while each epoch beats the best."
            )
        elif stop and history.annealing:
            print("No gain at the lowered learning rate: stopping.")
        elif stop:
            print(f"{why}: stopping.")

    def epoch(self, X, Y, rows, present=None, stats=None, progress=None,
              rate_factor=1.0):  # fmt: skip
        """One pass over ``rows`` of (X, Y); returns the row-weighted mean terms.

        Parameters
        ----------
        X, Y : ndarray, streamed array, CSR matrix, or tensor staged on the device
        rows : ndarray of int
            The rows of X and Y to train on (the others may be held out).
        present : tuple of two bool ndarrays over all rows of X, default=None
            Which rows have their x view and which their y view (the missing
            view's values are NaN); None when every row is paired.
        stats : tuple of ((x_mean, x_scale, x_bound), (y_mean, y_scale, y_bound))
            Standardisation tensors, on the module's device and in its dtype
            (see :func:`._data.to_tensor`).
        progress : callable, default=None
            Called after each step with the rows done so far (of all ranks).
        rate_factor : float, default=1.0
            Multiplies the schedule's learning rate (see :meth:`History.settle`).

        Returns
        -------
        dict of str to float
            ``loss`` and each of :data:`TERMS`, averaged over the epoch's rows
            (of all ranks).
        """
        self.step.train()
        device = stats[0][1].device
        steps, parts, sizes = _plan_epoch(
            X, Y, rows, self.schedule.batch, self.rng, present, self.ranks
        )
        n_total = sizes[:, :, 0].sum()
        rate = self.schedule.rate(sizes.shape[1]) * rate_factor
        set_learning_rate(self.optimizer, rate)
        # Summed on the device: one host synchronisation per epoch.
        sums = torch.zeros(len(TERMS), dtype=torch.float64, device=device)
        current, data, done = None, None, 0
        for t in range(sizes.shape[1]):
            n_rows = int(sizes[:, t, 0].sum())
            done += n_rows
            if n_rows == 0:
                continue
            if t < len(steps):
                index, batch = steps[t]
                if index != current:
                    current, data = index, _read_part(X, Y, parts[index][0])
                x, y = _batch_tensors(*data, batch, stats, parts[index][2])
                mask = _present_tensors(parts[index][2], batch, device)
            else:  # this rank has no rows left at this step of the others'
                x = torch.zeros((0, X.shape[1]), device=device)
                y, mask = torch.zeros((0, Y.shape[1]), device=device), None
            self.optimizer.zero_grad(set_to_none=True)
            loss, terms = self.step(x, y, mask, sizes[:, t])
            loss.backward()
            _decay_weights(self.optimizer, self.objective.alpha, n_rows)
            self.optimizer.step()
            sums += torch.stack(list(terms.values())).double() * (n_rows / n_total)
            if progress is not None:
                progress(done)
        return self._mean_terms(sums.cpu().numpy())

    def _mean_terms(self, sums):
        """The epoch's terms and loss from this rank's weighted sums."""
        # Reconstruction terms are this rank's rows' share; the others are global.
        n_recon = len(RECONSTRUCTION_TERMS)
        sums[:n_recon] = self.ranks.sum(sums[:n_recon])
        terms = dict(zip(TERMS, sums.tolist()))
        terms["loss"] = self.objective.total(
            sum(terms[name] for name in RECONSTRUCTION_TERMS),
            terms["correlation"],
            terms["ranking"],
        )
        return terms


@_one_blas_thread
def race(first, second, data, n_epochs, scorer):
    """Train two runs in lockstep, an epoch of each in turn, and return the
    index (0 or 1) of the one to keep.

    Each run is a (trainer, history, label) triple: its own module and
    optimiser, its record and its name in the log. Each stops by its own
    rule, and also once it is behind (:func:`_behind`) at ``BEHIND_CHECKS``
    rounds in a row. The first run is kept unless the second's best beats
    its ``bar`` (a start kept by the first must be beaten by its margin).
    Every rank sees the same scores, so all keep the same run.
    """
    runs = (first, second)
    data = staged(data)
    live = {
        i: trainer.epochs(data, history, n_epochs, scorer, label=label)
        for i, (trainer, history, label) in enumerate(runs)
    }
    behind, errors = [0, 0], [None, None]
    while live:
        before = [history.best_validation_score_ for _, history, _ in runs]
        for i, epochs in list(live.items()):
            errors[i] = next(epochs, StopIteration)
            if errors[i] is StopIteration:  # its own rule stopped it
                del live[i]
        for i in list(live):
            history, rival = runs[i][1], runs[1 - i][1]
            low = _behind(history, before[i], rival, errors[i])
            behind[i] = behind[i] + 1 if low else 0
            if behind[i] >= BEHIND_CHECKS:
                live.pop(i).close()  # its weights are not kept
                _log_dropped(runs[i], runs[1 - i])
    return int(second[1].best_validation_score_ > first[1].bar)


def _behind(history, best_before, rival, error):
    """Whether a run is behind its rival after an epoch: its best score is
    more than ``FALL_ERRORS`` standard errors (``error``) below the best of
    the rival's trained epochs, and more than ``FALL_EPOCHS`` times what this
    epoch added to its best (``best_before``): at that pace it would not
    catch up in ``FALL_EPOCHS`` epochs.

    A rival's start never puts a run behind: a random start climbs for
    epochs from far below a CCA start's score, and may pass it later (on
    ``benchmarks/speed.py``'s 2k rows at ``learning_rate_init=1e-2``, after
    11 epochs). Nor does a run still climbing fast: it may be a slow
    starter. On the recorded scores of both runs of 39 fits (digits, cancer,
    ``speed.py``'s 2k, 5k and 20k rows, linear data), stopping a run behind
    at two rounds in a row kept every race's winner and its best score,
    and on 20k rows stopped the CCA start's run after 5 of its 18-23 epochs.
    """
    rival_best = max(rival.validation_scores_, default=-np.inf)
    best = history.best_validation_score_
    gap = rival_best - best
    return gap > FALL_ERRORS * error and gap > FALL_EPOCHS * (best - best_before)


def _log_dropped(run, rival):
    trainer, _, label = run
    if trainer.schedule.verbose and trainer.ranks.rank == 0:
        print(
            f"{label}: best validation score behind the {rival[2]}'s by more than "
            f"{FALL_ERRORS:g} standard errors and {FALL_EPOCHS} epochs of its last "
            f"gain, {BEHIND_CHECKS} epochs in a row: stopping."
        )


@torch.no_grad()
def map_batches(fn, arrays, stats, consume=None, rows=None, names=None):
    """Apply ``fn`` to standardised row blocks of ``arrays``; concatenate.

    Parameters
    ----------
    fn : callable
        Takes one tensor per array, returns a tensor.
    arrays : list of array-like, all with the same number of rows
    stats : list of (mean, scale, bound) tensors, one per array (see
        :func:`._data.to_tensor`); the blocks take their dtype and device
    consume : callable, default=None
        If given, called with each block's output (ndarray) instead of
        concatenating them: results of any size are streamed, not kept.
    rows : ndarray of int, default=None
        Sorted rows to use; all rows when None.
    names : list of str or None, default=None
        For each array, a name if its blocks must be checked for NaN and
        infinity as they are read (streamed input no one has validated), or
        None.

    Returns
    -------
    ndarray in the dtype of ``stats``, or None with ``consume``
    """
    names = names or [None] * len(arrays)
    outputs = []
    for block in row_blocks(arrays[0].shape[0], rows):
        tensors = [
            to_tensor(read_rows(a, block, name), s)
            for a, s, name in zip(arrays, stats, names)
        ]
        out = fn(*tensors).cpu().numpy()
        if consume is None:
            outputs.append(out)
        else:
            consume(out)
    return None if consume is not None else np.concatenate(outputs)
