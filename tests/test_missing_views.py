"""Semi-paired data: rows with one view missing (allow_missing_views=True)."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skcorrnet import CorrNet
from skcorrnet._objective import corrnet_loss, pearson_per_unit
from skcorrnet._module import CorrNetModule
from skcorrnet._distributed import LOCAL
from skcorrnet._training import _plan_epoch
from views import paper_objective


def _hide(X, Y, x_only, y_only):
    """Copies of X and Y with y blanked on ``x_only`` rows, X on ``y_only`` rows."""
    X, Y = X.astype(np.float64), Y.astype(np.float64)
    X[y_only] = np.nan
    Y[x_only] = np.nan
    return X, Y


def test_nan_is_an_error_by_default(views):
    X, Y = _hide(*views, x_only=[0], y_only=[])
    with pytest.raises(ValueError, match="NaN"):
        CorrNet(max_iter=1).fit(X, Y)


def test_partly_missing_view_names_the_rows(views):
    X, Y = views[0].copy(), views[1].copy()
    X[[3, 7], 0] = np.nan
    with pytest.raises(ValueError, match=r"X is partly NaN in rows \[3, 7\]"):
        CorrNet(max_iter=1, allow_missing_views=True).fit(X, Y)
    X, Y = views[0].copy(), views[1].copy()
    Y[5, 1:] = np.nan
    with pytest.raises(ValueError, match=r"y is partly NaN in rows \[5\]"):
        CorrNet(max_iter=1, allow_missing_views=True).fit(X, Y)


def test_rows_with_no_view_and_too_few_pairs_are_errors(views):
    X, Y = _hide(*views, x_only=[4], y_only=[4])
    with pytest.raises(ValueError, match=r"Rows \[4\] have both views missing"):
        CorrNet(max_iter=1, allow_missing_views=True).fit(X, Y)
    n = len(views[0])
    X, Y = _hide(*views, x_only=np.arange(1, n // 2), y_only=np.arange(n // 2, n))
    with pytest.raises(ValueError, match="at least 2 rows with both views, got 1"):
        CorrNet(max_iter=1, allow_missing_views=True).fit(X, Y)


def test_infinity_is_still_an_error(views):
    X = views[0].copy()
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        CorrNet(max_iter=1, allow_missing_views=True).fit(X, views[1])


def test_transform_needs_complete_rows(views):
    X, Y = _hide(*views, x_only=[0, 1], y_only=[2, 3])
    model = CorrNet(max_iter=2, allow_missing_views=True, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="NaN"):
        model.transform(X)


def test_scaling_statistics_use_the_present_rows(views):
    X, Y = _hide(*views, x_only=np.arange(0, 100), y_only=np.arange(100, 150))
    model = CorrNet(max_iter=1, allow_missing_views=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y)
    np.testing.assert_allclose(model.x_mean_, np.nanmean(X, axis=0), rtol=1e-10)
    np.testing.assert_allclose(model.y_std_, np.nanstd(Y, axis=0, ddof=1), rtol=1e-10)


def test_missing_view_values_do_not_enter_the_loss():
    module = CorrNetModule(
        4, 3, 2, (5,), (5,), "tanh", "tanh", torch.Generator().manual_seed(0)
    )
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(12, 4, generator=g), torch.randn(12, 3, generator=g)
    has_x = torch.tensor([True] * 9 + [False] * 3)
    has_y = torch.tensor([True] * 6 + [False] * 3 + [True] * 3)
    objective = paper_objective(ranking_weight=1.0)
    loss, terms = corrnet_loss(module, x, y, objective, (has_x, has_y))
    x2, y2 = x.clone(), y.clone()
    x2[~has_x] = 123.0
    y2[~has_y] = -7.0
    loss2, _ = corrnet_loss(module, x2, y2, objective, (has_x, has_y))
    torch.testing.assert_close(loss, loss2)

    # Against a direct computation: paired rows all terms, one-view rows their own.
    hx, hy, hxy = module(x, y)

    def err(dec, h, target):
        return ((dec(h) - target) ** 2).mean(dim=1)

    # Paired rows' terms average over the 6 paired rows; the one-view rows'
    # (3 x-only, 3 y-only) over those 6 rows, weighted by unpaired_weight.
    paired = slice(0, 6)
    recon_x = (
        err(module.decoder_x, hx, x)[paired].sum()
        + err(module.decoder_y, hx, y)[paired].sum()
    ) / 6 + objective.unpaired_weight * err(module.decoder_x, hx, x)[6:9].sum() / 6
    torch.testing.assert_close(terms["recon_x"], recon_x.detach())
    # Semi-paired correlation: about each view's all-row mean, the paired
    # rows' covariance over variances that are the larger of the paired
    # rows' and all of the view's rows'.
    hx, hy = hx.detach().numpy(), hy.detach().numpy()
    hx_all, hy_all = hx[:9], np.concatenate([hy[:6], hy[9:]])
    a, b = hx[:6] - hx_all.mean(0), hy[:6] - hy_all.mean(0)
    var_a = np.maximum((a * a).sum(0), 6 * hx_all.var(0))
    var_b = np.maximum((b * b).sum(0), 6 * hy_all.var(0))
    corr = ((a * b).sum(0) / np.sqrt(var_a * var_b)).sum()
    assert abs(terms["correlation"] - corr) < 1e-5


def test_all_paired_masks_match_the_paired_loss():
    module = CorrNetModule(
        4, 3, 2, (), (), "relu", "relu", torch.Generator().manual_seed(0)
    )
    x, y = torch.randn(10, 4), torch.randn(10, 3)
    everything = (torch.ones(10, dtype=torch.bool),) * 2
    objective = paper_objective()
    torch.testing.assert_close(
        corrnet_loss(module, x, y, objective, everything)[0],
        corrnet_loss(module, x, y, objective)[0],
    )


def _epoch_batches(paired, batch_size):
    """This process's batches of an epoch over rows with the ``paired`` mask."""
    n = len(paired)
    present = (np.ones(n, dtype=bool), paired.copy())  # unpaired rows are x-only
    steps, _, sizes = _plan_epoch(
        np.zeros((n, 2)),
        np.zeros((n, 2)),
        np.arange(n),
        lambda total: batch_size,
        np.random.RandomState(0),
        present,
        LOCAL,
    )
    return [batch for _, batch in steps], sizes[0]


@settings(max_examples=50, deadline=None)
@given(
    st.integers(3, 20),
    st.integers(0, 20),
    st.floats(0.0, 1.0),
    st.integers(0, 2**31 - 1),
)
def test_semi_paired_correlation_stays_a_correlation(
    n_paired, n_one_view, spread, seed
):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n_paired, 3, generator=g), torch.randn(n_paired, 3, generator=g)
    b = b + 2 * a  # correlated pairs
    # However the one-view rows spread (even collapsed onto a point, which
    # would inflate an all-row variance estimate's ratio), the value stays in
    # [-1, 1]; with no one-view rows it is the plain Pearson correlation.
    extra_a = spread * torch.randn(n_one_view, 3, generator=g) + 3.0
    extra_b = spread * torch.randn(n_one_view, 3, generator=g) - 1.0
    semi = pearson_per_unit(
        a, b, a_all=torch.cat([a, extra_a]), b_all=torch.cat([b, extra_b])
    )
    assert torch.all(semi.abs() <= 1 + 1e-5)
    same = pearson_per_unit(a, b, a_all=a, b_all=b)
    torch.testing.assert_close(same, pearson_per_unit(a, b))


def test_batches_spread_the_paired_rows():
    rng = np.random.RandomState(0)
    paired = np.zeros(1000, dtype=bool)
    paired[rng.choice(1000, 300, replace=False)] = True
    batches, sizes = _epoch_batches(paired, 128)
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(1000))
    assert len(batches) == 3  # ceil(300 paired / 128), as without the other rows
    assert {paired[b].sum() for b in batches} == {100}
    assert {(~paired[b]).sum() for b in batches} == {233, 234}
    assert np.array_equal(sizes, [[len(b), paired[b].sum()] for b in batches])


def test_batches_without_paired_rows_are_counted_by_rows():
    # A split may leave no paired training rows: batches then hold batch_size
    # rows, never the whole epoch.
    batches, sizes = _epoch_batches(np.zeros(10, dtype=bool), 4)
    assert [len(b) for b in batches] == [4, 3, 3]
    assert np.array_equal(np.sort(np.concatenate(batches)), np.arange(10))
    assert not sizes[:, 1].any()


def test_partial_fit_and_early_stopping_accept_missing_views(views):
    X, Y = _hide(*views, x_only=np.arange(0, 60), y_only=np.arange(60, 120))
    model = CorrNet(allow_missing_views=True, random_state=0)
    for chunk in np.array_split(np.random.RandomState(0).permutation(len(X)), 3):
        model.partial_fit(X[chunk], Y[chunk])
    assert model.n_iter_ == 3 and np.isfinite(model.loss_)
    stopped = CorrNet(
        allow_missing_views=True, early_stopping=True, max_iter=5, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stopped.fit(X, Y)
    assert len(stopped.validation_scores_) == 5
    assert np.all(np.isfinite(stopped.validation_scores_))


def test_all_rows_paired_is_the_ordinary_model(views):
    plain = CorrNet(max_iter=3, random_state=0)
    allowing = CorrNet(max_iter=3, allow_missing_views=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(
            plain.fit(*views).transform(views[0]),
            allowing.fit(*views).transform(views[0]),
        )


def test_one_view_rows_train_their_own_view(views):
    """Extra x-only rows change how X is encoded, not the paired rows' count."""
    X, Y = views
    extra = X + 0.5  # x-only rows, shifted: they must move x_mean_ and the encoder
    X_all = np.vstack([X, extra])
    Y_all = np.vstack([Y, np.full_like(Y, np.nan)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paired_only = CorrNet(max_iter=5, random_state=0).fit(X, Y)
        semi = CorrNet(max_iter=5, allow_missing_views=True, random_state=0).fit(
            X_all, Y_all
        )
    np.testing.assert_allclose(semi.x_mean_, X_all.mean(axis=0))
    np.testing.assert_allclose(semi.y_mean_, Y.mean(axis=0))
    assert not np.allclose(semi.transform(X), paired_only.transform(X))
    assert np.isfinite(semi.loss_curve_).all() and np.isfinite(semi.score(X, Y))
