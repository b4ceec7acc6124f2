"""The CorrNet objective: values against numpy, and NaN safety."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skcorrnet._objective import corrnet_loss, pearson_per_unit, reconstruction_errors
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


def _module(p=4, q=3, k=2, activation="tanh", decoder=(5,)):
    return CorrNetModule(
        p, q, k, (5,), decoder, activation, activation, torch.Generator().manual_seed(0)
    )


@pytest.mark.parametrize("decoder", [(), (5,)])
def test_loss_is_sum_of_terms_and_matches_a_direct_computation(decoder):
    # Linear decoders (()) take the Gram-matrix expansion of the errors.
    module = _module(decoder=decoder)
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


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(1, 30), st.integers(1, 6), st.integers(0, 2**16))
def test_linear_decoders_errors_and_gradients_are_those_of_the_residuals(n, p, k, seed):
    g = torch.Generator().manual_seed(seed)
    module = CorrNetModule(p, 3, k, (), (), "relu", "identity", g).double()
    for parameter in module.parameters():  # a non-zero bias too
        parameter.data.normal_(generator=g)
    x = torch.randn(n, p, generator=g, dtype=torch.float64)
    y = torch.randn(n, 3, generator=g, dtype=torch.float64)
    latents = [torch.randn(n, k, generator=g, dtype=torch.float64, requires_grad=True)
               for _ in range(3)]  # fmt: skip
    got = torch.cat(reconstruction_errors(module, x, y, latents), dim=1)
    expected = torch.stack(
        [((module.decoder(v)(h) - t) ** 2).mean(dim=1) for v, t in (("x", x), ("y", y))
         for h in latents], dim=1,
    )  # fmt: skip
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-9)
    inputs = [*latents, *module.decoder_x.parameters()]
    weights = torch.randn(got.shape, generator=g, dtype=torch.float64)
    for a, b in zip(
        torch.autograd.grad((got * weights).sum(), inputs),
        torch.autograd.grad((expected * weights).sum(), inputs),
    ):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


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
    # One fused kernel per update where torch has it on the CPU (2.4 on).
    fused = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 4)
    assert bool(optimizer.defaults.get("fused")) is fused


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
