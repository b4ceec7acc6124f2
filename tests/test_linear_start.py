"""The closed-form pieces behind CorrNet's linear start and its held-out score."""

import numpy as np
import pytest
import torch
from conftest import two_views
from hypothesis import given, settings
from hypothesis import strategies as st

from skcorrnet._linear_cca import (
    RIDGES,
    JointMoments,
    choose_ridge,
    fit_linear_cca,
    fit_linear_cca_from_moments,
    held_out_total_correlation,
)
from skcorrnet._objective import total_correlation


def moments_of(A, B):
    moments = JointMoments()
    moments.update(np.hstack([A, B]))
    return moments


def canonical_sum(A, B, power=1):
    """Sum of the canonical correlations (to ``power``), by whitening with numpy."""

    def inv_sqrt(c):
        w, v = np.linalg.eigh(c)
        return (v / np.sqrt(w)) @ v.T

    A, B = A - A.mean(0), B - B.mean(0)
    cross = inv_sqrt(A.T @ A) @ A.T @ B @ inv_sqrt(B.T @ B)
    return (np.linalg.svd(cross, compute_uv=False) ** power).sum()


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.booleans())
def test_total_correlation_is_the_sum_of_canonical_correlations(seed, k, squared):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(60, k))
    B = A @ rng.normal(size=(k, k)) + rng.normal(size=(60, k))
    got = total_correlation(
        torch.from_numpy(A), torch.from_numpy(B), reg=1e-12, squared=squared
    )
    expected = canonical_sum(A, B, power=2 if squared else 1)
    assert float(got) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("squared", [False, True])
def test_total_correlation_ignores_duplicated_units(squared):
    """A copy of a unit adds nothing, where per-unit correlations would add 1."""
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.normal(size=(200, 3)))
    b = a + torch.from_numpy(rng.normal(size=(200, 3)))
    single = total_correlation(a, b, squared=squared)
    doubled = total_correlation(
        torch.cat([a, a[:, :1]], dim=1),
        torch.cat([b, b[:, :1]], dim=1),
        squared=squared,
    )
    assert float(doubled) == pytest.approx(float(single), abs=0.02)


@pytest.mark.parametrize("squared", [False, True])
def test_total_correlation_has_finite_gradients_on_constant_units(squared):
    a = torch.zeros(16, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
    total_correlation(a, b, squared=squared).backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_held_out_total_on_the_fitting_rows_is_the_fitted_total():
    X, Y = two_views(n_samples=400, seed=3)
    moments = moments_of(X, Y)
    cca = fit_linear_cca_from_moments(moments, X.shape[1], 2, reg=1e-8)
    # Equal up to the 1e-4 relative ridge of the held-out whitening.
    assert held_out_total_correlation(cca, moments) == pytest.approx(
        cca.correlations.sum(), rel=1e-3
    )


def test_held_out_total_cannot_exceed_the_held_out_canonical_total():
    """Variates that all track one held-out direction count once."""
    X, Y = two_views(n_samples=600, n_shared=1, p=4, q=4, seed=4)
    cca = fit_linear_cca(X[:300], Y[:300], 3)
    held_out = moments_of(X[300:], Y[300:])
    assert held_out_total_correlation(cca, held_out) <= canonical_sum(
        X[300:], Y[300:]
    ) + 1e-9


def test_choose_ridge_prefers_shrinkage_when_rows_are_few():
    """More columns than rows per fold: the smallest ridge overfits."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 1))
    X = z @ rng.normal(size=(1, 30)) + 2 * rng.normal(size=(40, 30))
    Y = z @ rng.normal(size=(1, 30)) + 2 * rng.normal(size=(40, 30))
    folds = np.arange(40) % 5
    fold_moments = [moments_of(X[folds == f], Y[folds == f]) for f in range(5)]
    assert choose_ridge(fold_moments, 30, 1) > RIDGES[0]
