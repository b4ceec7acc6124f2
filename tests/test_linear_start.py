"""The closed-form pieces behind CorrNet's linear start and its held-out score."""

import warnings

import numpy as np
import scipy.sparse
import pytest
import torch
from conftest import two_views
from hypothesis import given, settings
from hypothesis import strategies as st

import skcorrnet._canonical
import skcorrnet._linear_cca
from skcorrnet import CorrNet
from skcorrnet._canonical import linear_start, summed_correlation_error
from skcorrnet._distributed import LOCAL
from skcorrnet._linear_cca import (
    PLS_RIDGES,
    RIDGES,
    JointMoments,
    _pick_ridge,
    _ridge_path_scores,
    choose_ridge,
    fit_linear_cca,
    fit_linear_cca_from_moments,
    held_out_total_correlation,
)
from skcorrnet._objective import total_correlation
from skcorrnet.metrics import total_correlation as metrics_total_correlation


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


@pytest.mark.parametrize("whitened", [False, True])
def test_held_out_total_on_the_fitting_rows_is_the_fitted_total(whitened):
    X, Y = two_views(n_samples=400, seed=3)
    moments = moments_of(X, Y)
    cca = fit_linear_cca_from_moments(moments, X.shape[1], 2, reg=1e-8)
    # Equal up to the 1e-4 relative ridge of the held-out whitening.
    assert held_out_total_correlation(cca, moments, whitened) == pytest.approx(
        cca.correlations.sum(), rel=1e-3
    )


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n_fit=st.integers(8, 60), k=st.integers(1, 3))
def test_held_out_total_is_the_metrics_protocol(seed, n_fit, k):
    """The early-stopping score estimates what a user measures: the summed
    held-out correlations of the training fit's variates."""
    X, Y = two_views(n_samples=n_fit + 50, seed=seed)
    cca = fit_linear_cca(X[:n_fit], Y[:n_fit], k)
    expected = metrics_total_correlation(X[:n_fit], Y[:n_fit], X[n_fit:], Y[n_fit:], k)
    got = held_out_total_correlation(cca, moments_of(X[n_fit:], Y[n_fit:]))
    assert got == pytest.approx(expected, abs=1e-7)


def test_held_out_total_scores_wrongly_paired_variates_low_unless_whitened():
    """Fitted rows pair x1 with y1 and x2 with y2, held-out rows x1 with y2
    and x2 with y1: each fitted pair is uncorrelated there, but whitening on
    the held-out rows re-pairs the variates."""
    rng = np.random.default_rng(0)
    z, noise = rng.normal(size=(2, 400)), 0.1 * rng.normal(size=(4, 400))
    X = Xt = (z + noise[:2]).T
    Y = (z + noise[2:]).T
    Yt = Y[:, ::-1]
    cca = fit_linear_cca(X, Y, 2)
    held_out = moments_of(Xt, Yt)
    assert abs(held_out_total_correlation(cca, held_out)) < 0.1
    assert held_out_total_correlation(cca, held_out, whitened=True) > 1.9


def test_whitened_held_out_total_cannot_exceed_the_held_out_canonical_total():
    """Variates that all track one held-out direction count once."""
    X, Y = two_views(n_samples=600, n_shared=1, p=4, q=4, seed=4)
    cca = fit_linear_cca(X[:300], Y[:300], 3)
    held_out = moments_of(X[300:], Y[300:])
    assert held_out_total_correlation(cca, held_out, whitened=True) <= canonical_sum(
        X[300:], Y[300:]
    ) + 1e-9


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_fit=st.integers(4, 80),
    p=st.integers(1, 12),
    q=st.integers(1, 12),
    k=st.integers(1, 12),
    collinear=st.booleans(),
)
def test_ridge_path_scores_are_those_of_each_ridges_fit(seed, n_fit, p, q, k, collinear):
    """choose_ridge's eigenbasis scores equal fitting the CCA at each ridge
    and scoring it on the held-out moments, for any shape: more columns than
    rows, k above the rank, copied columns (a null space)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_fit + 20, 1))
    X = z @ rng.normal(size=(1, p)) + rng.normal(size=(n_fit + 20, p))
    Y = z @ rng.normal(size=(1, q)) + rng.normal(size=(n_fit + 20, q))
    if collinear:
        X[:, -1], Y[:, 0] = X[:, 0], -3 * Y[:, -1]
    fitted, held_out = moments_of(X[:n_fit], Y[:n_fit]), moments_of(X[n_fit:], Y[n_fit:])
    expected = [
        held_out_total_correlation(fit_linear_cca_from_moments(fitted, p, k, r), held_out)
        for r in RIDGES
    ]
    got = _ridge_path_scores(fitted, held_out, p, k, RIDGES)
    # Pairs of near-zero fitted correlation may differ (0 here, noise there).
    assert got == pytest.approx(expected, abs=1e-6)


def test_choose_ridge_prefers_shrinkage_when_rows_are_few():
    """More columns than rows per fold: the smallest ridge overfits."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 1))
    X = z @ rng.normal(size=(1, 30)) + 2 * rng.normal(size=(40, 30))
    Y = z @ rng.normal(size=(1, 30)) + 2 * rng.normal(size=(40, 30))
    folds = np.arange(40) % 5
    fold_moments = [moments_of(X[folds == f], Y[folds == f]) for f in range(5)]
    assert choose_ridge([fold_moments], 30, 1) > RIDGES[0]


def _fold_scores(base, gains, best_base=2):
    """Fold scores over RIDGES + PLS_RIDGES: 0 for the base ridges but
    ``best_base`` (``base``), each extended ridge ``gains`` more per fold
    than ``base``, the last one most."""
    scores = np.zeros((len(base), len(RIDGES) + len(PLS_RIDGES)))
    scores[:, best_base] = base
    for j in range(len(PLS_RIDGES)):
        scores[:, len(RIDGES) + j] = base + np.asarray(gains) * (j + 1) / len(PLS_RIDGES)
    return scores


@pytest.mark.parametrize(
    "gains, n_folds, expected",
    [
        ([0.1, 0.12, 0.08, 0.11, 0.09], 5, PLS_RIDGES[-1]),  # gains in every fold
        ([0.5, -0.1, -0.1, -0.1, 0.0], 5, RIDGES[2]),  # a mean gain within noise
        ([-0.1] * 5, 5, RIDGES[2]),  # the extended ridges lose
        # 4 draws x 2 folds: the error counts 2 folds, not 8 rows of scores
        ([0.3, -0.1, 0.3, -0.1, 0.3, -0.1, 0.3, -0.05], 2, RIDGES[2]),
        ([0.3, -0.1, 0.3, -0.1, 0.3, -0.1, 0.3, -0.05], 8, PLS_RIDGES[-1]),
    ],
)
def test_pick_ridge_extends_only_beyond_the_noise(gains, n_folds, expected):
    """The ridges towards PLS replace the best of RIDGES only when their gain
    per fold exceeds its standard error (over ``n_folds`` folds)."""
    scores = _fold_scores(np.linspace(1.0, 2.0, len(gains)), gains)
    assert _pick_ridge(scores, n_folds, RIDGES, PLS_RIDGES) == expected
    assert _pick_ridge(scores[:, : len(RIDGES)], n_folds, RIDGES) == RIDGES[2]


def test_pick_ridge_ties_go_to_the_larger_ridge():
    scores = np.zeros((5, len(RIDGES)))
    scores[:, [1, 4]] = 1.0
    assert _pick_ridge(scores, 5, RIDGES) == RIDGES[4]


def test_choose_ridge_goes_towards_pls_for_isotropic_wide_views():
    """Standardised views wider than the rows, two factors in isotropic noise:
    PLS's directions are the canonical ones, and in about half of the draws
    of the data the CV's gain towards them is clear. Without the extension
    the choice stays in RIDGES."""
    extended = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(40, 2)) * np.sqrt([9.0, 2.3])  # correlations 0.9, 0.7
        loadings = [np.linalg.qr(rng.normal(size=(p, 2)))[0].T for p in (120, 20)]
        X, Y = (z @ L + rng.normal(size=(40, L.shape[1])) for L in loadings)
        X, Y = ((A - A.mean(axis=0)) / A.std(axis=0) for A in (X, Y))
        draws = []
        for _ in range(4):
            folds = rng.permutation(np.arange(40) % 5)
            draws.append([moments_of(X[folds == f], Y[folds == f]) for f in range(5)])
        extended.append(choose_ridge(draws, 120, 2, extended=PLS_RIDGES) in PLS_RIDGES)
        assert choose_ridge(draws, 120, 2) in RIDGES
    assert sum(extended) >= 5


@pytest.mark.parametrize("p, extra", [(60, 40), (60, 400)])
def test_columns_the_rows_cannot_tell_apart_leave_a_wide_view_s_cca_as_it_is(p, extra):
    """The ridge is relative to the mean eigenvalue over the n - 1 directions
    n rows span: appending constant columns to a view already wider than
    the rows changes neither the variates (up to sign) nor the correlations
    (relative to the mean over the columns, the same ridge would shrink as
    60 / 100)."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 2))
    A = z @ rng.normal(size=(2, p)) + rng.normal(size=(30, p))
    B = z @ rng.normal(size=(2, 5)) + rng.normal(size=(30, 5))
    padded = np.hstack([A, np.full((30, extra), 3.0)])
    for columns in (0, 2**25):  # in the views' columns, in the rows' span
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(skcorrnet._linear_cca, "_MAX_ROW_SPACE_VALUES", columns)
            fits = [fit_linear_cca(V, B, 2, reg=1.0) for V in (A, padded)]
        np.testing.assert_allclose(fits[0].correlations, fits[1].correlations, atol=1e-10)
        for got, want in zip(fits[1].transform(padded, B), fits[0].transform(A, B)):
            sign = np.where((got * want).sum(axis=0) < 0, -1.0, 1.0)
            np.testing.assert_allclose(got * sign, want, atol=1e-8)


def test_summed_correlation_error_is_the_spread_of_the_sum():
    """Over many draws of n rows, the sum of k sample correlations spreads by
    the standard error that tol="auto" uses."""
    rng = np.random.default_rng(0)
    rho, n, draws = np.array([0.9, 0.6, 0.2]), 100, 4000
    z = rng.standard_normal((draws, n, 3))
    w = rho * z + np.sqrt(1 - rho**2) * rng.standard_normal((draws, n, 3))
    z, w = z - z.mean(axis=1, keepdims=True), w - w.mean(axis=1, keepdims=True)
    r = (z * w).sum(axis=1) / np.sqrt((z * z).sum(axis=1) * (w * w).sum(axis=1))
    spread = r.sum(axis=1).std()
    assert spread == pytest.approx(summed_correlation_error(rho, n), rel=0.05)
    assert summed_correlation_error(rho, 4 * n) == pytest.approx(
        summed_correlation_error(rho, n) / 2, rel=0.01
    )


def _start(X, Y, monkeypatch=None, k=3):
    """linear_start on every row of standardised X, Y; with ``monkeypatch``,
    views wider than the rows are kept in their own columns."""
    if monkeypatch is not None:
        def as_they_are(X, Y, stats, rows):
            return [np.asarray(X, float), np.asarray(Y, float)], [None, None]

        monkeypatch.setattr(skcorrnet._canonical, "_in_row_spaces", as_they_are)

    def stats(A):
        return (torch.zeros(A.shape[1], dtype=torch.float64),
                torch.ones(A.shape[1], dtype=torch.float64), None)  # fmt: skip

    return linear_start(
        X, Y, (stats(X), stats(Y)), np.arange(len(X)), k,
        np.random.RandomState(0), LOCAL, n_draws=2, extended=PLS_RIDGES,
    )  # fmt: skip


@pytest.mark.parametrize(
    "n, p, q, k", [(40, 90, 4, 3), (40, 4, 90, 3), (40, 70, 80, 3), (12, 40, 30, 15)]
)
def test_linear_start_in_the_rows_span_is_the_start_in_the_columns(monkeypatch, n, p, q, k):
    """A view wider than the rows is solved in coordinates of the rows' span:
    the same ridge choice, encoders and decoders (up to each unit's sign) as
    in the view's own columns, pairs beyond the rank at zero in both."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, 3))
    X = z @ rng.normal(size=(3, p)) + rng.normal(size=(n, p))
    Y = z @ rng.normal(size=(3, q)) + rng.normal(size=(n, q))
    X, Y = ((A - A.mean(axis=0)) / A.std(axis=0) for A in (X, Y))
    ridge, encoders, decoders = _start(X, Y, k=k)
    ridge_cols, encoders_cols, decoders_cols = _start(X, Y, monkeypatch, k=k)
    assert ridge == ridge_cols
    for got, want, dec, dec_want in zip(encoders, encoders_cols, decoders, decoders_cols):
        assert got.shape == want.shape and dec.shape == dec_want.shape
        sign = torch.sign((got * want).sum(dim=1))
        sign[sign == 0] = 1.0  # pairs beyond the rank: zero weights in both
        torch.testing.assert_close(got * sign[:, None], want, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(dec * sign, dec_want, rtol=1e-4, atol=1e-5)


def test_auto_starts_linear_on_views_wider_than_2048_columns_and_few_rows():
    """More than 2,048 columns but 30 rows: init="auto" solves the CCA in the
    rows' span, and that start is the model (no epoch, no warning); its
    x components are the standardised rows times the start's weights."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 1))
    X = z @ rng.normal(size=(1, 2100)) + rng.normal(size=(30, 2100))
    Y = z @ rng.normal(size=(1, 3)) + 0.3 * rng.normal(size=(30, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CorrNet(n_components=1, random_state=0, canonical=False).fit(X, Y)
    assert model.n_iter_ == 0 and model.linear_start_ridge_ is not None
    weight = model.module_.encoder_x.linear.weight.detach().double().numpy()
    expected = ((X - model.x_mean_) / model.x_std_) @ weight.T
    np.testing.assert_allclose(model.transform(X), expected, rtol=1e-4, atol=1e-6)
    x, y = model.transform(X, Y)
    assert np.corrcoef(x[:, 0], y[:, 0])[0, 1] > 0.9


@pytest.mark.parametrize("n, p, q, k", [(30, 80, 5, 3), (10, 30, 25, 15)])
def test_fit_linear_cca_of_wide_views_is_solved_in_the_rows_span(monkeypatch, n, p, q, k):
    """fit_linear_cca on views wider than the rows gives the same variates
    (up to sign) and correlations as in the views' columns."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(n, 2))
    A = z @ rng.normal(size=(2, p)) + rng.normal(size=(n, p))
    B = z @ rng.normal(size=(2, q)) + rng.normal(size=(n, q))
    span = fit_linear_cca(A, B, k, reg=0.1)
    monkeypatch.setattr(skcorrnet._linear_cca, "_MAX_ROW_SPACE_VALUES", 0)
    columns = fit_linear_cca(A, B, k, reg=0.1)
    np.testing.assert_allclose(span.correlations, columns.correlations, atol=1e-8)
    for got, want in zip(span.transform(A, B), columns.transform(A, B)):
        sign = np.where((got * want).sum(axis=0) < 0, -1.0, 1.0)
        np.testing.assert_allclose(got * sign, want, atol=1e-6)


def test_a_constant_view_wider_than_the_rows_gives_zero_components():
    """A view whose standardised rows are all zero has a span of rank 0: its
    components are zero, with zero correlations, in fit_linear_cca and in
    the linear start, as when it is solved in its columns."""
    rng = np.random.default_rng(0)
    X, Y = np.ones((20, 30)), rng.normal(size=(20, 3))
    cca = fit_linear_cca(X - X.mean(axis=0), Y, 2)
    assert not cca.weights_a.any() and not cca.correlations.any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CorrNet(n_components=2, random_state=0).fit(X, Y)
    x, y = model.transform(X, Y)
    assert not x.any() and np.isfinite(y).all()


def test_a_view_wider_than_the_start_s_limit_starts_in_its_principal_directions(
    monkeypatch,
):
    """Among more rows than MAX_START_WIDTH (here 20), a view wider than it
    is solved in the span of its leading principal directions (here 3, the
    views' 3 strong factors): before any epoch the x weights lie in that
    span, and the variates are the ridge CCA of the views projected on it."""
    monkeypatch.setattr(skcorrnet._canonical, "MAX_START_WIDTH", 20)
    monkeypatch.setattr(skcorrnet._canonical, "PRINCIPAL_DIRECTIONS", 3)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(290, 3)) * [4.0, 3.0, 2.0]
    X = z @ np.linalg.qr(rng.normal(size=(40, 3)))[0].T + rng.normal(size=(290, 40))
    Y = z @ rng.normal(size=(3, 6)) + rng.normal(size=(290, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CorrNet(n_components=2, random_state=0, canonical=False).fit(X, Y)
    assert model.n_iter_ == 0  # 290 rows: the start is the model
    Xs = np.clip((X - model.x_mean_) / model.x_std_, -5.0, 5.0)
    Ys = np.clip((Y - model.y_mean_) / model.y_std_, -5.0, 5.0)
    Xs, Ys = Xs - Xs.mean(axis=0), Ys - Ys.mean(axis=0)
    basis = np.linalg.svd(Xs, full_matrices=False)[2][:3].T  # exact PCs
    weights = model.module_.encoder_x.linear.weight.detach().double().numpy()
    outside = weights - (weights @ basis) @ basis.T
    assert np.linalg.norm(outside) < 1e-4 * np.linalg.norm(weights)
    cca = fit_linear_cca(Xs @ basis, Ys, 2, reg=model.linear_start_ridge_)
    x, y = model.transform(X, Y)
    for got, want in zip((x, y), cca.transform(Xs @ basis, Ys)):
        sign = np.where((got * want).sum(axis=0) < 0, -1.0, 1.0)
        np.testing.assert_allclose(got * sign, want, atol=2e-4)  # float32 weights


def test_units_beyond_the_principal_directions_keep_their_random_weights(monkeypatch):
    """With more latent units than principal coordinates, the start sets as
    many units as there are coordinates; the others keep their random
    encoder weights, as units beyond min(n_features) do."""
    monkeypatch.setattr(skcorrnet._canonical, "MAX_START_WIDTH", 20)
    monkeypatch.setattr(skcorrnet._canonical, "PRINCIPAL_DIRECTIONS", 3)
    X, Y = two_views(n_samples=290, p=40, q=6, seed=0)
    model = CorrNet(n_components=5, random_state=0, canonical=False).fit(X, Y)
    assert model.n_iter_ == 0  # 290 rows: the start is the model
    weights = model.module_.encoder_x.linear.weight.detach().numpy()
    norms = np.linalg.norm(weights, axis=1)
    assert np.all(norms > 0.1)
    x = model.transform(X)
    assert np.all(x.std(axis=0) > 0.1)


@pytest.mark.parametrize(
    "n_rows, sparse, distributed, expected",
    [
        (300, False, False, "principal"),
        (300, True, False, "columns"),  # its sample would be dense
        (300, False, True, "columns"),
        (15, True, False, "rows"),  # fewer rows than columns: their span
    ],
)
def test_where_the_start_solves_a_view_wider_than_its_limit(
    monkeypatch, n_rows, sparse, distributed, expected
):
    """A dense view over the limit among more rows: its principal directions,
    in one process; sparse or distributed: its columns (where init="auto"
    starts at random); on fewer rows than columns, the rows' span."""
    monkeypatch.setattr(skcorrnet._canonical, "MAX_START_WIDTH", 20)
    X = np.ones((n_rows, 40))
    X = scipy.sparse.csr_matrix(X) if sparse else X
    Y = np.ones((n_rows, 3))
    where = skcorrnet._canonical.start_coordinates(X, Y, n_rows, not distributed)
    assert where == expected
