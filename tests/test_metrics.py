"""skcorrnet.metrics against brute force, and the closed-form CCA."""

import numpy as np
import pytest
from conftest import two_views
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist
from sklearn.cross_decomposition import CCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skcorrnet import CorrNet
from skcorrnet._linear_cca import JointMoments, fit_linear_cca
from skcorrnet.metrics import (
    correlation_scorer,
    median_rank,
    recall_at_k,
    sum_of_correlations,
    total_correlation,
)

shapes = st.tuples(st.integers(2, 40), st.integers(1, 4))
values = st.floats(-10, 10, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, shapes, elements=values), st.data())
def test_sum_of_correlations_is_brute_force(A, data):
    B = data.draw(arrays(np.float64, A.shape, elements=values))
    expected = 0.0
    for j in range(A.shape[1]):
        a, b = A[:, j], B[:, j]
        # Scale-free: rescale first, or np.corrcoef underflows on tiny values.
        a, b = a / max(np.abs(a).max(), 1e-300), b / max(np.abs(b).max(), 1e-300)
        with np.errstate(all="ignore"):  # constant columns count 0
            r = np.corrcoef(a, b)[0, 1]
        if np.ptp(A[:, j]) > 0 and np.ptp(B[:, j]) > 0 and np.isfinite(r):
            expected += r
    assert sum_of_correlations(A, B) == pytest.approx(expected, abs=1e-8)


def test_sum_of_correlations_of_subnormal_columns():
    # Found by the test above: the mean of (5e-324, 0) rounds to 0, so a
    # column centred before rescaling stayed uncentred (-0.71 for -1).
    assert sum_of_correlations([[0.0], [1.0]], [[5e-324], [0.0]]) == -1.0
    assert sum_of_correlations([[1e300], [-1e300]], [[1.0], [2.0]]) == -1.0


def _brute_ranks(queries, items, metric):
    D = cdist(queries, items, metric=metric)
    true = np.diag(D)
    return (D <= true[:, None]).sum(axis=1)


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(2, 60), st.integers(1, 4)), elements=st.integers(-3, 3)),
    st.data(),
    st.sampled_from(["euclidean", "cityblock"]),
    st.integers(1, 5),
)
def test_retrieval_is_brute_force(queries, data, metric, k):
    """Small integer values make ties common: they count against the true item."""
    items = data.draw(arrays(np.float64, queries.shape, elements=st.integers(-3, 3)))
    ranks = _brute_ranks(queries, items, metric)
    assert recall_at_k(queries, items, k=k, metric=metric) == pytest.approx(np.mean(ranks <= k))
    assert median_rank(queries, items, metric=metric) == np.median(ranks)


def test_retrieval_in_chunks_is_exact():
    rng = np.random.RandomState(0)
    items = rng.normal(size=(2000, 8))
    queries = items + rng.normal(scale=1.0, size=items.shape)
    ranks = _brute_ranks(queries, items, "cosine")
    # working_memory=1 MiB forces about 65 rows per chunk.
    assert recall_at_k(queries, items, k=5, working_memory=1) == np.mean(ranks <= 5)
    assert median_rank(queries, items, working_memory=1) == np.median(ranks)


def test_collapsed_representation_scores_worst():
    Z = np.ones((50, 3))
    assert recall_at_k(Z, Z, k=1, metric="euclidean") == 0.0
    assert median_rank(Z, Z, metric="euclidean") == 50


def test_linear_cca_matches_sklearn():
    X, Y = two_views(n_samples=2000, n_shared=2, p=5, q=4, noise=0.5, seed=3)
    cca = fit_linear_cca(X, Y, n_components=2, reg=1e-10)
    ref = CCA(n_components=2, max_iter=5000, tol=1e-12).fit(X, Y)
    ref_x, ref_y = ref.transform(X, Y)
    ref_corr = [np.corrcoef(ref_x[:, i], ref_y[:, i])[0, 1] for i in range(2)]
    np.testing.assert_allclose(cca.correlations, ref_corr, atol=1e-6)
    zx, zy = cca.transform(X, Y)
    np.testing.assert_allclose(np.corrcoef(zx.T), np.eye(2), atol=1e-6)
    assert np.all(np.diff(cca.correlations) <= 0)


def test_linear_cca_streams_exact_moments_even_far_from_zero():
    """Covariances accumulated over row blocks equal numpy's, despite a large mean."""
    X, Y = two_views(n_samples=10_000, n_shared=2, p=5, q=4, noise=0.5, seed=5)
    X, Y = X + 1e6, Y - 3e5  # cancellation would ruin a naive sum of squares
    cca = fit_linear_cca(X, Y, n_components=2)
    joint = np.hstack([X, Y])
    moments = JointMoments()
    for block in np.array_split(joint, 7):
        moments.update(block)
    mean, cov = moments.mean_cov()
    np.testing.assert_allclose(mean, joint.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(joint.T), rtol=1e-7, atol=1e-7)
    centred = fit_linear_cca(X - X.mean(axis=0), Y - Y.mean(axis=0), n_components=2)
    np.testing.assert_allclose(cca.correlations, centred.correlations, rtol=1e-7)


def test_total_correlation_is_held_out_and_invariant():
    X, Y = two_views(n_samples=1000, n_shared=2, p=5, q=4, noise=0.5, seed=4)
    cca = fit_linear_cca(X[:700], Y[:700], n_components=2, reg=0.0)
    zx, zy = cca.transform(X[700:], Y[700:])
    expected = sum(np.corrcoef(zx[:, i], zy[:, i])[0, 1] for i in range(2))
    got = total_correlation(X[:700], Y[:700], X[700:], Y[700:], n_components=2, reg=0.0)
    assert got == pytest.approx(expected, abs=1e-8)
    # An invertible linear map of a view does not change the figure.
    M = np.random.RandomState(0).normal(size=(5, 5))
    mapped = total_correlation(X[:700] @ M, Y[:700], X[700:] @ M, Y[700:], n_components=2, reg=0.0)
    assert mapped == pytest.approx(got, abs=1e-6)


def test_total_correlation_is_not_inflated_by_redundant_units():
    X, Y = two_views(n_samples=600, n_shared=1, p=1, q=1, noise=0.3, seed=5)
    copies_x, copies_y = np.tile(X, 5), np.tile(Y, 5)
    assert sum_of_correlations(copies_x, copies_y) == pytest.approx(5 * sum_of_correlations(X, Y))
    assert total_correlation(copies_x[:400], copies_y[:400], copies_x[400:], copies_y[400:]) < 1.01
    # The 4 pairs beyond the data's rank get exactly zero weights, so their
    # held-out "correlation" is not that of roundoff (2.4 with another BLAS).
    cca = fit_linear_cca(copies_x[:400], copies_y[:400])
    assert np.all(cca.weights_a[:, 1:] == 0) and np.all(cca.weights_b[:, 1:] == 0)
    assert np.all(cca.correlations[1:] == 0) and cca.correlations[0] > 0.5


@pytest.mark.parametrize(
    "call",
    [
        lambda A, B: sum_of_correlations(A, B[:-1]),
        lambda A, B: total_correlation(A, B[:-1], A, B),
        lambda A, B: total_correlation(A, B, A[:, :1], B),
        lambda A, B: recall_at_k(A, B[:-1]),
        lambda A, B: median_rank(A, B[:, :1]),
    ],
)
def test_mismatched_input_is_rejected(call):
    A, B = np.ones((10, 2)), np.ones((10, 2))
    with pytest.raises(ValueError, match="must have"):
        call(A, B)


def test_bad_k_and_nan_are_rejected():
    A = np.eye(3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        recall_at_k(A, A, k=0)
    B = A.copy()
    B[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sum_of_correlations(A, B)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_correlation_scorer_ranks_models_and_handles_pipelines(digit_halves):
    L, R = digit_halves
    cca = CCA(n_components=2).fit(L[:1000], R[:1000])
    assert correlation_scorer(cca, L[1000:], R[1000:]) == pytest.approx(
        sum_of_correlations(*cca.transform(L[1000:], R[1000:]))
    )
    pipe = make_pipeline(
        StandardScaler(),
        CorrNet(n_components=2, max_iter=5, early_stopping=False, random_state=0),
    )
    grid = GridSearchCV(
        pipe, {"corrnet__correlation_weight": [0.0, 4.0]}, cv=2, scoring=correlation_scorer
    ).fit(L, R)
    # The correlation term is what makes the components correlated.
    assert grid.best_params_ == {"corrnet__correlation_weight": 4.0}
    with pytest.raises(ValueError, match="components of both views"):
        correlation_scorer(StandardScaler().fit(L), L, R)
