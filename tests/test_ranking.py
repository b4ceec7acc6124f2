"""The in-batch ranking term (ranking_weight > 0)."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skcorrnet import CorrNet
from skcorrnet._canonical import _reciprocal_ranks
from skcorrnet._objective import ranking_loss
from skcorrnet.metrics import _true_item_ranks


def _cosines(a, b):
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def test_softmax_ranking_matches_numpy():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    logits = _cosines(a, b) / 0.5

    def cross_entropy(z):
        z = z - z.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(z).sum(axis=1)) - np.diag(z))

    expected = 0.5 * (cross_entropy(logits) + cross_entropy(logits.T))
    got = ranking_loss(torch.from_numpy(a), torch.from_numpy(b), "softmax", temperature=0.5)
    assert abs(float(got) - expected) < 1e-10


def test_hinge_ranking_matches_numpy():
    rng = np.random.RandomState(1)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    sim = _cosines(a, b)
    off = ~np.eye(5, dtype=bool)
    a_to_b = np.maximum(0, 0.3 - np.diag(sim)[:, None] + sim)[off].mean()
    b_to_a = np.maximum(0, 0.3 - np.diag(sim)[None, :] + sim)[off].mean()
    got = ranking_loss(torch.from_numpy(a), torch.from_numpy(b), "hinge", margin=0.3)
    assert abs(float(got) - 0.5 * (a_to_b + b_to_a)) < 1e-10


@pytest.mark.parametrize("kind", ["softmax", "hinge"])
def test_ranking_prefers_true_pairs_and_is_safe_on_tiny_batches(kind):
    a = torch.eye(4) * 3.0
    assert ranking_loss(a, a, kind) < ranking_loss(a, a[[1, 2, 3, 0]], kind)
    if kind == "hinge":  # true pairs win by more than the margin: no loss
        assert float(ranking_loss(a, a, kind, margin=0.2)) == 0.0
    one = torch.ones(1, 3, requires_grad=True)
    loss = ranking_loss(one, one, kind)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.all(torch.isfinite(one.grad))
    same = torch.ones(5, 3, requires_grad=True)  # all rows identical: cosines of zeros
    loss = ranking_loss(same, same, kind)
    loss.backward()
    assert torch.isfinite(loss) and torch.all(torch.isfinite(same.grad))


def test_ranking_term_is_recorded(views):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = CorrNet(max_iter=3, early_stopping=False, random_state=0).fit(*views)
        ranked = CorrNet(
            max_iter=3, ranking_weight=1.0, early_stopping=False, random_state=0
        ).fit(*views)
    assert plain.loss_terms_["ranking"] == [0.0, 0.0, 0.0]
    assert all(value > 0 for value in ranked.loss_terms_["ranking"])


def test_duplicate_partners_are_not_negatives():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 3, generator=g)
    b = torch.randn(6, 3, generator=g)
    b[1] = b[0]  # rows 0 and 1 share their partner (say, the same label)
    same_b = torch.cdist(b, b) == 0
    # The duplicate no longer competes with the true partner.
    assert ranking_loss(a, b, same_b=same_b) < ranking_loss(a, b)
    sim = _cosines(a.double().numpy(), b.double().numpy())
    hinge = np.maximum(0, 0.2 - np.diag(sim)[:, None] + sim)
    allowed = ~np.eye(6, dtype=bool)
    allowed[0, 1] = allowed[1, 0] = False
    b_to_a = np.maximum(0, 0.2 - np.diag(sim)[None, :] + sim)[~np.eye(6, dtype=bool)].mean()
    expected = 0.5 * (hinge[allowed].mean() + b_to_a)
    got = ranking_loss(a.double(), b.double(), "hinge", same_b=same_b)
    assert abs(float(got) - expected) < 1e-8
    # Softmax against a direct computation: row 0 does not compete with row 1.
    sim = sim / 0.1
    rows = []
    for i in range(6):
        allowed = [j for j in range(6) if j == i or not (i in (0, 1) and j in (0, 1))]
        z = sim[i, allowed]
        rows.append(np.log(np.exp(z - z.max()).sum()) + z.max() - sim[i, i])
    cols = [np.log(np.exp(sim[:, j]).sum()) - sim[j, j] for j in range(6)]
    expected = 0.5 * (np.mean(rows) + np.mean(cols))
    got = ranking_loss(a.double(), b.double(), "softmax", same_b=same_b.clone())
    assert abs(float(got) - expected) < 1e-8


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 30).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, (n, 3), elements=st.integers(-2, 2).map(float)),
            arrays(np.float64, (n, 3), elements=st.integers(-2, 2).map(float)),
        )
    )
)
def test_the_retrieval_score_is_the_metrics_reciprocal_rank(pair):
    """Early stopping's retrieval score ranks as skcorrnet.metrics does, ties
    (frequent with these small integers) counted against the true partner."""
    a, b = pair
    ranks_ab = _true_item_ranks(a, b, "cosine", None)
    ranks_ba = _true_item_ranks(b, a, "cosine", None)
    want = 0.5 * (1 / ranks_ab + 1 / ranks_ba)
    np.testing.assert_allclose(_reciprocal_ranks(a, b), want, rtol=1e-12)


def test_with_a_ranking_term_early_stopping_scores_retrieval(views):
    X, Y = views
    model = CorrNet(
        n_components=2, hidden_layer_sizes=(16,), ranking_weight=1.0,
        early_stopping=True, max_iter=8, random_state=0, device="cpu",
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y)
    scores = np.array(model.validation_scores_)
    # Mean reciprocal ranks among the 30 held-out rows: in [1/30, 1].
    assert np.all((scores >= 1 / 30) & (scores <= 1))
    assert model.best_validation_score_ >= scores.max()
