import numpy as np
import pytest
from sklearn.datasets import load_digits


def two_views(n_samples=300, n_shared=2, p=6, q=5, noise=0.1, seed=0, dtype=np.float64):
    """Two views driven by ``n_shared`` common latent factors plus noise."""
    rng = np.random.RandomState(seed)
    shared = rng.normal(size=(n_samples, n_shared))
    X = shared @ rng.normal(size=(n_shared, p)) + noise * rng.normal(size=(n_samples, p))
    Y = shared @ rng.normal(size=(n_shared, q)) + noise * rng.normal(size=(n_samples, q))
    return X.astype(dtype), Y.astype(dtype)


@pytest.fixture
def views():
    return two_views()


@pytest.fixture(scope="session")
def digit_halves():
    images = load_digits().data.reshape(-1, 8, 8)
    return images[:, :, :4].reshape(-1, 32), images[:, :, 4:].reshape(-1, 32)
