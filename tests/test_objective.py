"""The CorrNet objective: values against numpy, and NaN safety."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skcorrnet._objective import corrnet_loss, pearson_per_unit
from skcorrnet._module import CorrNetModule
from skcorrnet._training import (
    SOLVERS,
    _decay_weights,
    make_optimizer,
    set_learning_rate,
)
from views import paper_objective

finite = st.floats(-100, 100, allow_nan=False, width=32)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(3, 30), st.integers(1, 5)), elements=finite), st.data())
def test_pearson_matches_numpy(a, data):
    b = data.draw(arrays(np.float32, a.shape, elements=finite))
    got = pearson_per_unit(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert np.all(np.isfinite(got)) and np.all(np.abs(got) <= 1 + 1e-5)
    for j in range(a.shape[1]):
        sa, sb = a[:, j].astype(np.float64).std(), b[:, j].astype(np.float64).std()
        if sa > 1e-2 and sb > 1e-2:
            expected = np.corrcoef(a[:, j].astype(np.float64), b[:, j].astype(np.float64))[0, 1]
            assert abs(got[j] - expected) < 1e-3


def test_constant_columns_and_single_rows_give_zero():
    a = torch.tensor([[1.0, 2.0], [1.0, 3.0], [1.0, 5.0]])
    b = torch.tensor([[0.0, 1.0], [2.0, 2.0], [4.0, 3.0]])
    got = pearson_per_unit(a, b)
    assert got[0] == 0.0 and abs(got[1] - np.corrcoef([2, 3, 5], [1, 2, 3])[0, 1]) < 1e-6
    assert torch.all(pearson_per_unit(a[:1], b[:1]) == 0.0)


def _module(p=4, q=3, k=2, activation="tanh"):
    return CorrNetModule(
        p, q, k, (5,), (5,), activation, activation, torch.Generator().manual_seed(0)
    )


def test_loss_is_sum_of_terms_and_matches_a_direct_computation():
    module = _module()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 4, generator=g), torch.randn(16, 3, generator=g)
    loss, terms = corrnet_loss(module, x, y, paper_objective(correlation_weight=2.0))
    hx, hy, hxy = module(x, y)
    expected_recon = []
    for h in (hxy, hx, hy):
        expected_recon.append(
            ((module.decoder_x(h) - x) ** 2).mean() + ((module.decoder_y(h) - y) ** 2).mean()
        )
    corr = np.sum([np.corrcoef(hx[:, j].detach(), hy[:, j].detach())[0, 1] for j in range(2)])
    for name, value in zip(("recon_xy", "recon_x", "recon_y"), expected_recon):
        assert abs(terms[name] - value) < 1e-5
    assert abs(terms["correlation"] - corr) < 1e-5
    assert abs(loss - (sum(expected_recon) - 2.0 * corr)) < 1e-4


def test_every_setting_adds_its_term_to_the_loss():
    # The ranking term, on the default total correlation: the batch's loss is
    # the objective's total of its terms (the weight penalty is the
    # optimiser's: see the next test).
    module = _module()
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(16, 4, generator=g), torch.randn(16, 3, generator=g)
    objective = paper_objective(
        correlation="total", correlation_weight=3.0, ranking_weight=0.5, alpha=0.1
    )
    loss, terms = corrnet_loss(module, x, y, objective)
    recon = terms["recon_xy"] + terms["recon_x"] + terms["recon_y"]
    # ranking_weight is relative to correlation_weight: 0.5 * 3.0 / 2.
    expected = recon - 3.0 * terms["correlation"] + 0.75 * terms["ranking"]
    assert terms["ranking"] > 0 and abs(float(loss) - float(expected)) < 1e-5
    assert objective.total(1.0, 2.0, 4.0) == 1.0 - 3.0 * 2.0 + 0.75 * 4.0
    assert paper_objective().total(1.0, 2.0, 4.0) == 1.0 - 2.0 * 2.0  # no ranking


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_the_optimiser_applies_the_l2_penalty_to_weights_only(solver):
    # One step with alpha as weight decay equals one step on the loss plus
    # MLPRegressor's penalty 0.5 * alpha * ||weights||^2 / n_rows.
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(16, 4, generator=g), torch.randn(16, 3, generator=g)
    objective = paper_objective(alpha=0.5)
    decayed, penalised = _module(), _module()
    for name, b in decayed.named_parameters():  # non-zero biases, to see them kept
        if "weight" not in name:
            b.data.normal_(generator=g)
    penalised.load_state_dict(decayed.state_dict())

    optimizer = make_optimizer(solver, decayed)
    set_learning_rate(optimizer, 0.1)
    corrnet_loss(decayed, x, y, objective)[0].backward()
    _decay_weights(optimizer, objective.alpha, 16)
    optimizer.step()

    reference = SOLVERS[solver](penalised.parameters(), lr=0.1)
    weights = [w for name, w in penalised.named_parameters() if "weight" in name]
    penalty = 0.5 * 0.5 * sum((w**2).sum() for w in weights) / 16
    (corrnet_loss(penalised, x, y, objective)[0] + penalty).backward()
    reference.step()
    for (name, a), b in zip(decayed.named_parameters(), penalised.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    assert optimizer.param_groups[1]["weight_decay"] == 0  # biases


def test_joint_latent_shares_the_bias():
    module = _module(activation="identity")
    x, y = torch.randn(5, 4), torch.randn(5, 3)
    hx, hy, hxy = module(x, y)
    torch.testing.assert_close(hxy, hx + hy - module.latent_bias)


def test_batch_of_one_row_has_finite_loss_and_gradients():
    module = _module(activation="relu")
    x, y = torch.randn(1, 4), torch.randn(1, 3)
    loss, terms = corrnet_loss(module, x, y, paper_objective(correlation_weight=2.0))
    loss.backward()
    assert torch.isfinite(loss) and terms["correlation"] == 0.0
    assert all(torch.all(torch.isfinite(p.grad)) for p in module.parameters() if p.grad is not None)


def test_constant_batch_has_finite_gradients():
    module = _module(activation="relu")
    x, y = torch.ones(8, 4), torch.zeros(8, 3)
    loss, _ = corrnet_loss(module, x, y, paper_objective(correlation_weight=2.0))
    loss.backward()
    assert all(torch.all(torch.isfinite(p.grad)) for p in module.parameters() if p.grad is not None)
