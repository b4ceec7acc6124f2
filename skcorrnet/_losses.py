"""The CorrNet objective (Chandar et al. 2016, Section 3, Eq. 3.1).

For a batch of paired rows (x_i, y_i) with latents h(x), h(y), h(x, y):

    L = sum_{h in {h(x,y), h(x), h(y)}} [ mse(g_x(h), x) + mse(g_y(h), y) ]
        - lambda * sum_j corr(h(x)_j, h(y)_j)

where g_x, g_y are the decoders, mse is the squared error averaged over rows and
features (so each term is about 1 for standardised data whatever the width of a
view), and corr is the Pearson correlation of latent unit j over the batch.
"""

import torch

__all__ = ["TERMS", "corrnet_loss", "pearson_per_unit", "reconstruction_errors"]

# Names of the loss terms, in the order they are logged.
TERMS = ("recon_xy", "recon_x", "recon_y", "correlation")

# Guards the variances in the correlation's denominator: a constant latent unit
# (or a batch of one row) gives a correlation of 0, never 0/0.
EPS = 1e-8


def pearson_per_unit(a, b, eps=EPS):
    """Pearson correlation of each column of ``a`` with the same column of ``b``.

    Parameters
    ----------
    a, b : torch.Tensor of shape (n_rows, n_units)

    Returns
    -------
    torch.Tensor of shape (n_units,)
        Values in [-1, 1]; 0 for a constant column or a single row.
    """
    a = a - a.mean(dim=0)
    b = b - b.mean(dim=0)
    cov = (a * b).sum(dim=0)
    var_a = (a * a).sum(dim=0)
    var_b = (b * b).sum(dim=0)
    return cov / (torch.sqrt(var_a + eps) * torch.sqrt(var_b + eps))


def reconstruction_errors(module, x, y, latents):
    """Per-row error of both views decoded from each latent.

    Parameters
    ----------
    module : CorrNetModule
    x, y : torch.Tensor of shape (n_rows, n_features_x), (n_rows, n_features_y)
    latents : sequence of torch.Tensor of shape (n_rows, n_components)

    Returns
    -------
    torch.Tensor of shape (n_rows, len(latents))
        Squared error of x plus that of y, each averaged over its features.
    """
    n, m = x.shape[0], len(latents)
    # Decode all latents in one pass per decoder.
    h_all = torch.cat(list(latents))
    err_x = ((module.decoder_x(h_all) - x.repeat(m, 1)) ** 2).mean(dim=1)
    err_y = ((module.decoder_y(h_all) - y.repeat(m, 1)) ** 2).mean(dim=1)
    return (err_x + err_y).view(m, n).T


def corrnet_loss(module, x, y, correlation_weight):
    """CorrNet loss of a paired batch and its terms.

    Parameters
    ----------
    module : CorrNetModule
    x : torch.Tensor of shape (n_rows, n_features_x)
    y : torch.Tensor of shape (n_rows, n_features_y)
    correlation_weight : float
        The paper's lambda.

    Returns
    -------
    loss : torch.Tensor (scalar)
    terms : dict of str to torch.Tensor (scalars, detached)
        ``recon_xy``, ``recon_x``, ``recon_y``: reconstruction error of both
        views from h(x, y), h(x) and h(y); ``correlation``: the summed per-unit
        correlation of h(x) and h(y).
    """
    hx, hy, hxy = module(x, y)
    recon = reconstruction_errors(module, x, y, (hxy, hx, hy)).mean(dim=0)
    correlation = pearson_per_unit(hx, hy).sum()
    loss = recon.sum() - correlation_weight * correlation
    terms = dict(zip(TERMS, (*recon.detach(), correlation.detach())))
    return loss, terms
