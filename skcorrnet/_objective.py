"""The CorrNet objective (Chandar et al. 2016, Section 3, Eq. 3.1), with extensions.

For a batch of paired rows (x_i, y_i) with latents h(x), h(y), h(x, y):

    L = sum_{h in {h(x,y), h(x), h(y)}} [ mse(g_x(h), x) + mse(g_y(h), y) ]
        - lambda * C(h(x), h(y))
        + mu * lambda / 2 * ranking(h(x), h(y))
        + alpha / (2 n) * ||weights||^2

where g_x, g_y are the decoders, mse is the squared error averaged over rows and
features (so each term is about 1 for standardised data whatever the width of a
view), and ranking (weight mu, 0 by default, relative to lambda) scores each
true pair above the other pairs of the batch. C is the correlation term: the
paper's sum of per-unit Pearson correlations, ``sum_j corr(h(x)_j, h(y)_j)``
(``"per_unit"``); Deep CCA's total canonical correlation of the batch's
latents (``"total"``), which units that duplicate one direction cannot raise;
or the sum of the squared canonical correlations (``"squared"``, the squared
Frobenius norm of the whitened cross-covariance, as cca-zoo's DCCA), which
needs no singular values. The last term is MLPRegressor's L2 penalty (n: the
batch's rows); the optimiser applies its gradient as weight decay, so
:func:`corrnet_loss` returns the other terms.

Rows with one view missing (Section 3: the single-view batches of the original
CorrNet) contribute the reconstruction of their own view from their own latent,
``mse(g_x(h(x)), x)`` or ``mse(g_y(h(y)), y)``, averaged over the one-view rows
and weighted by ``unpaired_weight``; with ``"per_unit"`` they also set a floor
under each unit's variance (:func:`pearson_per_unit`); ranking uses the paired
rows alone, and so do ``"total"`` and ``"squared"``.
"""

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

__all__ = [
    "EPS",
    "CORRELATIONS",
    "RANKING_LOSSES",
    "RECONSTRUCTION_TERMS",
    "Settings",
    "TERMS",
    "Objective",
    "corrnet_loss",
    "dense",
    "pearson_per_unit",
    "ranking_loss",
    "reconstruction_errors",
    "reconstruction_sums",
    "row_keys",
    "same_keys",
    "total_correlation",
]

# Names of the loss terms, in the order they are logged; the first three are
# the reconstruction terms.
TERMS = ("recon_xy", "recon_x", "recon_y", "correlation", "ranking")
RECONSTRUCTION_TERMS = TERMS[:3]

RANKING_LOSSES = ("softmax", "hinge")

CORRELATIONS = ("squared", "total", "per_unit")

# Ridge of the covariances whitened by total_correlation, relative to their
# mean variance.
TOTAL_REG = 1e-3

# Guards the variances in the correlation's denominator: a constant latent unit
# (or a batch of one row) gives a correlation of 0, never 0/0.
EPS = 1e-8


class Settings:
    """A dataclass of some of an estimator's parameters, under their names."""

    @classmethod
    def from_params(cls, params):
        """The fields' values from an estimator's ``get_params()``."""
        return cls(**{field.name: params[field.name] for field in fields(cls)})


@dataclass(frozen=True)
class Objective(Settings):
    """The weights and shape parameters of the loss: the estimator's
    parameters of the same names (:meth:`from_params`)."""

    correlation_weight: float
    ranking_weight: float
    ranking_loss: str
    ranking_temperature: float
    ranking_margin: float
    unpaired_weight: float
    alpha: float
    correlation: str

    def total(self, reconstruction, correlation, ranking):
        """The loss from its terms: of a batch (tensors) or of an epoch (the
        terms' means, floats). The weight penalty is not in it: the
        optimiser applies its gradient (:func:`._training.make_optimizer`).

        ``reconstruction`` is the sum of the three reconstruction terms.
        """
        loss = reconstruction - self.correlation_weight * correlation
        if self.ranking_weight > 0:
            loss = loss + self.ranking_scale * ranking
        return loss

    @property
    def ranking_scale(self):
        """The ranking term's weight in the loss: ``ranking_weight`` is
        relative to the correlation term's, so that it keeps its balance
        with it whatever ``correlation_weight``."""
        return self.ranking_weight * self.correlation_weight / 2


def dense(t):
    """A sparse batch made dense (reconstruction targets); a dense one as is."""
    return t if t.layout == torch.strided else t.to_dense()


def pearson_per_unit(a, b, eps=EPS, a_all=None, b_all=None):
    """Pearson correlation of each column of ``a`` with the same column of ``b``.

    With ``a_all`` and ``b_all`` (every row that has view a, resp. b, paired
    or not), the semi-paired estimate: each view's mean is that of all its
    rows, and each variance the larger of the paired rows' (about that mean)
    and all the view's rows' (scaled to as many rows). The covariance of the
    paired rows about the same means keeps the value in [-1, 1]; the
    one-view rows lower it where they spread along a unit more than the
    paired rows do, which pushes each encoder to treat all rows of its view
    alike rather than fit the paired rows alone.

    Parameters
    ----------
    a, b : torch.Tensor of shape (n_paired, n_units)
    a_all, b_all : torch.Tensor of shape (n_rows_a, n_units), (n_rows_b, n_units)
        Every row with view a (resp. b), ``a``'s and ``b``'s included; None:
        the plain Pearson correlation.

    Returns
    -------
    torch.Tensor of shape (n_units,)
        Values in [-1, 1]; 0 for a constant column or a single row.
    """
    semi = a_all is not None
    a = a - (a_all if semi else a).mean(dim=0)
    b = b - (b_all if semi else b).mean(dim=0)
    cov = (a * b).sum(dim=0)
    var_a = (a * a).sum(dim=0)
    var_b = (b * b).sum(dim=0)
    if semi:
        n = a.shape[0]
        var_a = torch.maximum(var_a, a_all.var(dim=0, correction=0) * n)
        var_b = torch.maximum(var_b, b_all.var(dim=0, correction=0) * n)
    return cov / (torch.sqrt(var_a + eps) * torch.sqrt(var_b + eps))


def total_correlation(a, b, reg=TOTAL_REG, squared=False):
    """Sum of the canonical correlations of the columns of ``a`` and ``b``
    (``squared=True``: of their squares).

    Deep CCA's objective (Andrew et al. 2013): the trace norm of
    ``Caa^-1/2 Cab Cbb^-1/2``, with each covariance ridged by ``reg`` times its
    mean variance, so that a constant or duplicated unit keeps it finite.
    Unlike the sum of per-unit correlations, it cannot be raised by several
    units tracking one direction. Whitening uses Cholesky factors (no
    eigen-decomposition, whose gradient is unstable for close eigenvalues).
    The sum of squares is the squared Frobenius norm of the whitened
    cross-covariance, so it needs no singular values either.

    Parameters
    ----------
    a, b : torch.Tensor of shape (n_rows, n_units)
    reg : float, default=TOTAL_REG
        Ridge of each covariance, relative to its mean variance.
    squared : bool, default=False
        Sum the squares of the canonical correlations (cca-zoo's DCCA loss)
        instead of the correlations.

    Returns
    -------
    torch.Tensor (scalar)
        In [0, n_units]; 0 for fewer than 2 rows.
    """
    n, k = a.shape
    if n < 2:
        return a.sum() * 0.0
    a = a - a.mean(dim=0)
    b = b - b.mean(dim=0)
    eye = torch.eye(k, dtype=a.dtype, device=a.device)

    def factor(c):
        ridge = reg * c.diagonal().mean() + EPS
        # The ridge keeps it positive definite; the _ex form does not make the
        # host wait for the GPU to check (a non-finite loss fails the epoch).
        return torch.linalg.cholesky_ex(c + ridge * eye).L

    la, lb = factor(a.T @ a), factor(b.T @ b)
    cross = torch.linalg.solve_triangular(la, a.T @ b, upper=False)
    cross = torch.linalg.solve_triangular(lb, cross.T, upper=False).T
    if squared:
        return (cross * cross).sum()
    return torch.linalg.svdvals(cross).sum()


def ranking_loss(
    a, b, kind="softmax", temperature=0.1, margin=0.2, same_a=None, same_b=None
):
    """In-batch ranking loss: row i of ``a`` should be closest to row i of ``b``.

    Similarities are cosines of the batch-centred rows (the components that
    ``transform`` returns are centred too), in both directions (a -> b and
    b -> a), averaged.

    Parameters
    ----------
    a, b : torch.Tensor of shape (n_rows, n_units)
    same_a, same_b : torch.Tensor of bool, shape (n_rows, n_rows), default=None
        ``same_b[i, j]``: row j's partner input equals row i's (e.g. two images
        with the same one-hot label). Such a j is no negative for query i: it
        is left out of the ranking, so duplicates are not pushed apart.
    kind : {"softmax", "hinge"}
        ``"softmax"``: cross-entropy of the true partner among the batch, with
        logits cos / temperature (InfoNCE). ``"hinge"``: DeViSE's hinge rank
        loss, max(0, margin - cos(true) + cos(other)), averaged over the
        other rows.
    temperature, margin : float

    Returns
    -------
    torch.Tensor (scalar)
        0 for fewer than 2 rows (no other pair to rank against).
    """
    n = a.shape[0]
    if n < 2:
        return a.sum() * 0.0
    a = F.normalize(a - a.mean(dim=0), dim=1, eps=EPS)
    b = F.normalize(b - b.mean(dim=0), dim=1, eps=EPS)
    sim = a @ b.T
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    # Negatives: neg_ab[i, j], b_j for query a_i; neg_ba[i, j], a_i for query
    # b_j (both masks are symmetric, as equality is).
    neg_ab = ~eye if same_b is None else ~(eye | same_b)
    neg_ba = ~eye if same_a is None else ~(eye | same_a)
    if kind == "softmax":
        target = torch.arange(n, device=sim.device)
        logits = sim / temperature
        a_to_b = logits.masked_fill(~(neg_ab | eye), -torch.inf)
        b_to_a = logits.T.masked_fill(~(neg_ba | eye), -torch.inf)
        return 0.5 * (F.cross_entropy(a_to_b, target) + F.cross_entropy(b_to_a, target))
    true = sim.diagonal()
    a_to_b = F.relu(margin - true[:, None] + sim)[neg_ab]
    b_to_a = F.relu(margin - true[None, :] + sim)[neg_ba]
    # Mean over the negatives (none: every row is a duplicate, no loss).
    return 0.5 * (
        a_to_b.sum() / max(a_to_b.numel(), 1) + b_to_a.sum() / max(b_to_a.numel(), 1)
    )


# Multipliers of row_keys: fixed, so that every process computes the same keys.
# Below 2**20, and applied to 16-bit halves of the values' bits, each value adds
# less than 2 * 2**36 = 2**37 to a key, so the int64 sums are exact (no
# overflow) for rows of up to 2**26 values.
_KEY_MULTIPLIERS = torch.randint(
    1, 2**20, (2, 2), generator=torch.Generator().manual_seed(0)
)


def row_keys(t):
    """Two int64 keys per row of a float32 tensor, equal for equal rows.

    Each key is a fixed random integer combination of the 16-bit halves of
    the row's float bits. Integer sums do not depend on the order of
    summation, so identical rows get identical keys exactly, on any device
    and in any batch (the ranking term compares rows gathered from several
    processes); distinct rows share a key with probability about 2**-40.

    Returns
    -------
    torch.Tensor of shape (n_rows, 2), int64
    """
    bits = (dense(t) + 0.0).view(torch.int32).long()  # + 0.0: -0.0 becomes 0.0
    low, high = bits & 0xFFFF, (bits >> 16) & 0xFFFF
    weights = _KEY_MULTIPLIERS.to(t.device)
    return torch.stack([(low * w[0] + high * w[1]).sum(dim=1) for w in weights], dim=1)


def same_keys(keys):
    """``out[i, j]``: rows i and j have the same :func:`row_keys`."""
    return (keys[:, None, :] == keys[None, :, :]).all(dim=2)


def reconstruction_errors(module, x, y, latents):
    """Per-row error of each view decoded from each latent.

    Parameters
    ----------
    module : CorrNetModule
    x, y : torch.Tensor of shape (n_rows, n_features_x), (n_rows, n_features_y)
    latents : sequence of torch.Tensor of shape (n_rows, n_components)

    Returns
    -------
    err_x, err_y : torch.Tensor of shape (n_rows, len(latents))
        Squared error of x (of y) decoded from each latent, averaged over the
        view's features.
    """
    x, y = dense(x), dense(y)
    h = torch.stack(list(latents))  # (m, n_rows, k)
    return _squared_errors(module.decoder_x, h, x), _squared_errors(module.decoder_y, h, y)


def _squared_errors(decoder, h, target):
    """Mean squared error over features of ``decoder(h[i])`` against
    ``target``, for each latent i: shape (n_rows, m).

    A linear decoder ``D h + c`` is expanded as
    ``h' (D'D) h + 2 h' D'(c - t) + |c - t|^2``: products with the k x k Gram
    matrix replace the (m n_rows) x n_features residuals, whose elementwise
    work (forward and backward) costs more than the decoder's products.
    """
    if decoder.branch is not None:
        residual = decoder(h) - target
        return (residual**2).mean(dim=2).T
    weight, bias = decoder.linear.weight, decoder.linear.bias
    offset = bias - target  # (n_rows, n_features)
    quadratic = ((h @ (weight.T @ weight)) * h).sum(dim=2)
    cross = (h * (offset @ weight)).sum(dim=2)
    squares = quadratic + 2 * cross + (offset * offset).sum(dim=1)
    return (squares / target.shape[1]).T


def reconstruction_sums(err_x, err_y, present=None):
    """Sums over rows of the reconstruction terms, paired and one-view rows apart.

    Paired rows contribute every term; a row with one view contributes the
    error of its own view decoded from its own latent only.

    Parameters
    ----------
    err_x, err_y : torch.Tensor of shape (n_rows, 3)
        From :func:`reconstruction_errors` with latents (h(x, y), h(x), h(y)).
    present : tuple of two bool tensors of shape (n_rows,), default=None
        Rows with their x view, rows with their y view; None if all paired.

    Returns
    -------
    paired_sums, one_view_sums : torch.Tensor of shape (3,)
        Terms from h(x, y), h(x) and h(y), summed over the paired rows and
        over the one-view rows (x-only rows add to the h(x) term, y-only rows
        to the h(y) term).
    """
    if present is None:
        return (err_x + err_y).sum(dim=0), err_x.new_zeros(3)
    has_x, has_y = present
    paired = (has_x & has_y)[:, None]
    one_view = torch.stack(
        [
            err_x.new_zeros(()),
            (err_x[:, 1] * (has_x & ~has_y)).sum(),
            (err_y[:, 2] * (has_y & ~has_x)).sum(),
        ]
    )
    return ((err_x + err_y) * paired).sum(dim=0), one_view


def _counts(x, present):
    """Paired and one-view rows of a batch."""
    n_paired = x.shape[0]
    if present is not None:
        n_paired = int((present[0] & present[1]).sum())
    return n_paired, x.shape[0] - n_paired


def _global_batch(hx, hy, present, keys, gather):
    """Latents, masks and row keys of every process's rows (see corrnet_loss)."""
    k = hx.shape[1]
    if present is None:
        masks = hx.new_ones((hx.shape[0], 2))
    else:
        masks = torch.stack(present, dim=1).to(hx.dtype)
    h = gather(torch.cat([hx, hy, masks], dim=1))
    keys = None if keys is None else gather(keys)
    return h[:, :k], h[:, k : 2 * k], (h[:, 2 * k :] > 0.5).T, keys


def _paired_correlation(hx, hy, kind):
    """The correlation term of paired rows' latents."""
    if kind == "per_unit":
        return pearson_per_unit(hx, hy).sum()
    return total_correlation(hx, hy, squared=kind == "squared")


def _correlation(hx, hy, present, keys, counts, kind):
    """The correlation term, and the paired rows' latents and keys to rank.

    ``counts`` are the global batch's, known to every process alike:
    branching on them keeps processes in step (and needs no device
    synchronisation).
    """
    if counts[0] == 0:  # no paired rows: no correlation signal, no 0/0
        keys = None if keys is None else keys[:0]
        return hx.sum() * 0.0, hx[:0], hy[:0], keys
    if counts[1] == 0:  # every row is paired
        return _paired_correlation(hx, hy, kind), hx, hy, keys
    has_x, has_y = present  # some rows have one view (local or gathered)
    paired = has_x & has_y
    hx_p, hy_p = hx[paired], hy[paired]
    keys = None if keys is None else keys[paired]
    if kind != "per_unit":
        return _paired_correlation(hx_p, hy_p, kind), hx_p, hy_p, keys
    semi = pearson_per_unit(hx_p, hy_p, a_all=hx[has_x], b_all=hy[has_y])
    return semi.sum(), hx_p, hy_p, keys


def corrnet_loss(module, x, y, objective, present=None, gather=None, counts=None):
    """CorrNet loss of a batch and its terms.

    Parameters
    ----------
    module : CorrNetModule
    x : torch.Tensor of shape (n_rows, n_features_x)
    y : torch.Tensor of shape (n_rows, n_features_y)
    objective : Objective
    present : tuple of two bool tensors of shape (n_rows,), default=None
        Which rows have their x view and which their y view; None means all
        rows are paired. A missing view's values are ignored (they must be
        finite, e.g. zeros).
    gather : callable, default=None
        In a distributed fit, maps a tensor of this process's rows to the
        rows of the global batch (every process's, gradients flowing to this
        process's own): the correlation and ranking terms are then those of
        the global batch. None in one process.
    counts : tuple of (int, int), default=None
        Paired and one-view rows of the global batch, which the
        reconstruction sums are divided by (default: this batch's).

    Returns
    -------
    loss : torch.Tensor (scalar)
    terms : dict of str to torch.Tensor (scalars, detached)
        ``recon_xy``, ``recon_x``, ``recon_y``: reconstruction error from
        h(x, y), h(x) and h(y), averaged over the paired rows, plus
        ``unpaired_weight`` times the one-view rows' error averaged over them
        (sums divided by ``counts``, so processes' terms add up to the global
        batch's); ``correlation``: the correlation term of h(x) and h(y)
        (semi-paired per unit when some rows have one view, see
        :func:`pearson_per_unit`); ``ranking``: the ranking loss over the
        paired rows (0 when its weight is 0).
    """
    hx, hy, hxy = module(x, y)  # a sparse view's first layer multiplies sparsely
    x, y = dense(x), dense(y)
    err_x, err_y = reconstruction_errors(module, x, y, (hxy, hx, hy))
    paired_sums, one_view_sums = reconstruction_sums(err_x, err_y, present)
    counts = _counts(x, present) if counts is None else counts
    recon = paired_sums / max(counts[0], 1)
    recon = recon + objective.unpaired_weight * one_view_sums / max(counts[1], 1)
    ranked = objective.ranking_weight > 0
    keys = torch.cat([row_keys(x), row_keys(y)], dim=1) if ranked else None
    if gather is not None:  # every row of the global batch
        hx, hy, present, keys = _global_batch(hx, hy, present, keys, gather)
    correlation, hx_p, hy_p, keys = _correlation(
        hx, hy, present, keys, counts, objective.correlation
    )
    ranking = torch.zeros((), device=recon.device)
    if ranked:
        ranking = ranking_loss(
            hx_p, hy_p, objective.ranking_loss, objective.ranking_temperature,
            objective.ranking_margin, same_keys(keys[:, :2]), same_keys(keys[:, 2:]),
        )  # fmt: skip
    loss = objective.total(recon.sum(), correlation, ranking)
    terms = dict(zip(TERMS, (*recon.detach(), correlation.detach(), ranking.detach())))
    return loss, terms
