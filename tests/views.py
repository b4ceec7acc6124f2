"""Data and settings the tests share (the pytest fixtures wrap them in
``conftest.py``; the distributed worker and ``golden.py`` import them)."""

import numpy as np
from sklearn.datasets import load_digits

from skcorrnet import CorrNet
from skcorrnet._objective import Objective


def two_views(n_samples=300, n_shared=2, p=6, q=5, noise=0.1, seed=0, dtype=np.float64):
    """Two views driven by ``n_shared`` common latent factors plus noise."""
    rng = np.random.RandomState(seed)
    shared = rng.normal(size=(n_samples, n_shared))
    X = shared @ rng.normal(size=(n_shared, p)) + noise * rng.normal(size=(n_samples, p))
    Y = shared @ rng.normal(size=(n_shared, q)) + noise * rng.normal(size=(n_samples, q))
    return X.astype(dtype), Y.astype(dtype)


def halves():
    """The left and right halves of scikit-learn's digits (1797 x 32 each)."""
    images = load_digits().data.reshape(-1, 8, 8)
    return images[:, :, :4].reshape(-1, 32), images[:, :, 4:].reshape(-1, 32)


def paper_objective(**params):
    """The objective of the paper's loss (per-unit correlation, lambda = 2,
    no weight penalty) with CorrNet's other defaults, and ``params``."""
    params = {"correlation": "per_unit", "correlation_weight": 2.0, "alpha": 0.0, **params}
    return Objective.from_params(CorrNet(**params).get_params())
