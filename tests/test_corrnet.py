"""Behaviour of the CorrNet estimator: API, numbers, numerics, errors."""

import copy
import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import peak_memory_growth, two_views
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.cross_decomposition import CCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

import skcorrnet._canonical
import skcorrnet._corrnet
import skcorrnet._progress
import skcorrnet._training
from skcorrnet import CorrNet
from skcorrnet._linear_cca import PLS_RIDGES
from skcorrnet._training import (
    ANNEAL_RATE,
    KEEP_ERRORS,
    History,
    Schedule,
    Trainer,
    auto_batch,
)
from skcorrnet.metrics import sum_of_correlations, total_correlation

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(
    max_iter=30,
    hidden_layer_sizes=(16,),
    early_stopping=False,
    random_state=0,
    device="cpu",
)


def fitted(X, Y, **params):
    return CorrNet(**{"n_components": 2, **FAST, **params}).fit(X, Y)


# ------------------------------------------------------------------ the API


def test_shapes_of_every_method(views):
    X, Y = views
    model = fitted(X, Y, n_components=3)
    zx, zy = model.transform(X, Y)
    assert zx.shape == zy.shape == (300, 3)
    assert np.array_equal(model.transform(X), zx)
    assert np.array_equal(model.transform_y(Y), zy)
    assert model.predict(X).shape == Y.shape
    assert model.predict_x(Y).shape == X.shape
    X_rec, Y_rec = model.inverse_transform(zx, zy)
    assert X_rec.shape == X.shape and Y_rec.shape == Y.shape
    assert list(model.get_feature_names_out()) == ["corrnet0", "corrnet1", "corrnet2"]


def test_fit_transform_returns_x_components(views):
    X, Y = views
    model = CorrNet(**FAST)
    assert np.array_equal(model.fit_transform(X, Y), model.transform(X))


def test_one_dimensional_target_round_trips():
    X, Y = two_views(q=1)
    y = Y.ravel()
    model = fitted(X, y)
    assert model.predict(X).shape == (300,)
    assert model.n_targets_ == 1
    assert model.transform_y(y).shape == (300, 2)
    assert np.array_equal(model.transform_y(y), model.transform_y(Y))
    assert model.score(X, y) > 0.5


def test_learns_the_shared_factors():
    """Two shared factors: two highly correlated held-out components, and
    cross-view prediction far better than the mean."""
    X, Y = two_views(n_samples=1200, noise=0.2, seed=1)
    model = fitted(X[:800], Y[:800], max_iter=60)
    zx, zy = model.transform(X[800:], Y[800:])
    held_out = [np.corrcoef(zx[:, i], zy[:, i])[0, 1] for i in range(2)]
    assert min(held_out) > 0.9
    assert model.score(X[800:], Y[800:]) > 0.8
    assert model.loss_curve_[-1] < model.loss_curve_[0]


@pytest.mark.slow  # a single-seed comparison: benchmarks/quality.py measures this
def test_beats_cca_on_a_nonlinear_relation():
    """y depends on x through a quadratic: CCA sees no linear correlation.

    With one component the correlation term (at most lambda) is small next to
    the six reconstruction terms, so lambda is raised to let it lead.
    """
    rng = np.random.RandomState(0)
    t = rng.uniform(-2, 2, size=(2000, 1))
    X = np.hstack([t, rng.normal(scale=0.1, size=(2000, 3))])
    Y = np.hstack([t**2, rng.normal(scale=0.1, size=(2000, 2))])
    train, test = slice(0, 1500), slice(1500, None)
    cca = CCA(n_components=1).fit(X[train], Y[train])
    model = fitted(
        X[train], Y[train], n_components=1, max_iter=60,
        hidden_layer_sizes=(32,), correlation_weight=4.0,
    )
    cca_corr = sum_of_correlations(*cca.transform(X[test], Y[test]))
    corrnet_corr = sum_of_correlations(*model.transform(X[test], Y[test]))
    assert abs(cca_corr) < 0.2
    assert corrnet_corr > 0.9


def test_training_terms_are_recorded(views, capsys):
    X, Y = views
    model = fitted(X, Y, max_iter=4, verbose=1, n_iter_no_change=np.inf)
    assert model.n_iter_ == 4 and len(model.loss_curve_) == 4
    assert set(model.loss_terms_) == {"recon_xy", "recon_x", "recon_y", "correlation", "ranking"}
    for name, curve in model.loss_terms_.items():
        assert len(curve) == 4
    # The total is the sum of the reconstruction terms minus lambda x correlation.
    terms = {name: np.array(curve) for name, curve in model.loss_terms_.items()}
    lam = model.correlation_weight
    total = terms["recon_xy"] + terms["recon_x"] + terms["recon_y"] - lam * terms["correlation"]
    np.testing.assert_allclose(model.loss_curve_, total, rtol=1e-5, atol=1e-5)
    assert model.best_loss_ == min(model.loss_curve_)
    out = capsys.readouterr().out
    assert out.count("Epoch") == 4 and "correlation=" in out and "time=" in out


def test_long_epochs_report_their_progress(views, capsys, monkeypatch):
    """Every step counts as long here: each reports rows done, rows/s and time
    left, in plain lines (the output is not a terminal)."""
    monkeypatch.setattr(skcorrnet._progress, "REPORT_EVERY", 0.0)
    X, Y = views  # 300 rows: 3 batches of 100
    fitted(X, Y, max_iter=2, batch_size=100, verbose=1, n_iter_no_change=np.inf)
    lines = [line for line in capsys.readouterr().out.splitlines() if "rows/s" in line]
    assert [line.split(":")[1].split(" rows")[0].strip() for line in lines] == [
        "100 of 300", "200 of 300", "300 of 300"
    ] * 2
    assert lines[0].startswith("Epoch 1:") and lines[-1].startswith("Epoch 2:")
    fitted(X, Y, max_iter=2, batch_size=100, n_iter_no_change=np.inf)
    assert "rows/s" not in capsys.readouterr().out  # verbose=0: silent


def test_convergence_warning_and_tol_stopping(views):
    X, Y = views
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        CorrNet(max_iter=2, early_stopping=False, random_state=0).fit(X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = CorrNet(
            max_iter=500, tol=1e3, n_iter_no_change=2, early_stopping=False,
            random_state=0,
        ).fit(X, Y)
    # As MLPRegressor: the first epoch improves on inf, then stop once the count
    # of epochs without improvement exceeds n_iter_no_change.
    assert model.n_iter_ == 1 + 2 + 1


def _spy_epochs(monkeypatch):
    """Record each epoch a fit trains: its network's weights before and
    after it, and its learning rate."""
    seen, epoch = [], Trainer.epoch

    def spy(self, *args, **kwargs):
        before = copy.deepcopy(self.module.state_dict())
        terms = epoch(self, *args, **kwargs)
        seen.append({"before": before, "after": copy.deepcopy(self.module.state_dict()),
                     "rate": self.optimizer.param_groups[0]["lr"]})  # fmt: skip
        return terms

    monkeypatch.setattr(Trainer, "epoch", spy)
    return seen


def test_early_stopping_restores_best_weights(monkeypatch):
    """Training runs past its best epoch; the weights kept are those of the
    last epoch near it.

    Noisy views, so that training soon overfits; a random start scores below
    the first epochs, so the best is an epoch, not the start; tol=0, so that
    any gain counts. The network kept (its encoders: the decoders then
    become least-squares readouts) is the one the kept epoch (the best, or
    the last within half a standard error of it) ended with, bit for bit.
    """
    X, Y = two_views(noise=1.0)
    settings = dict(early_stopping=True, init="random", n_iter_no_change=3, tol=0.0)
    runs, seen = _spy_runs(monkeypatch), _spy_epochs(monkeypatch)
    model = fitted(X, Y, max_iter=60, **settings)
    scores = model.validation_scores_
    assert len(scores) == model.n_iter_ == len(seen)
    best = int(np.argmax(scores)) + 1
    assert model.best_validation_score_ == scores[best - 1]
    assert model.n_iter_ > best  # the last epochs were trained, then undone
    recorded, errors = np.array(runs[0]["scores"]), np.array(runs[0]["errors"])
    near = recorded >= recorded.max() - KEEP_ERRORS * errors
    kept = int(np.flatnonzero(near)[-1]) + 1  # the last epoch near the best
    assert kept >= best
    final = _encoders(model.module_.state_dict())
    assert _same_weights(final, _encoders(seen[kept - 1]["after"]))


def test_a_stalled_fit_trains_on_from_its_kept_weights_at_a_fifth_of_the_rate(
    monkeypatch, capsys
):
    """Scripted held-out scores (standard error 0.1, tol=0.5): a gain over
    three epochs, then three epochs 10 errors below it, which stop a fit by
    either rule (a falling score, and n_iter_no_change=2 run out).
    The fit goes back to the weights of its best epoch (the third) and
    trains on at ANNEAL_RATE times the rate while each epoch beats the best:
    two do, the third does not and ends the fit, which keeps the second's
    weights. A fit with the rule off stops at the sixth epoch."""
    X, Y = two_views(noise=1.0)
    scores = [1.0, 2.0, 3.0, 2.0, 2.0, 2.0, 4.0, 5.0, 4.9] + [9.0] * 11
    settings = dict(early_stopping=True, init="random", n_iter_no_change=2, tol=0.5)
    _spy_runs(monkeypatch, script=[(0.0, scores)] * 2)
    seen = _spy_epochs(monkeypatch)
    model = fitted(X, Y, max_iter=20, verbose=1, **settings)
    assert model.n_iter_ == 9 and model.best_validation_score_ == 5.0
    said = [line for line in capsys.readouterr().out.splitlines() if "Epoch" not in line]
    assert said == [
        "Validation score more than 3 standard errors below its last gain for 3 "
        "epochs: back to the kept weights, training on at 0.2 times the learning "
        "rate while each epoch beats the best.",
        "No gain at the lowered learning rate: stopping.",
    ]
    assert _same_weights(seen[6]["before"], seen[2]["after"])
    rates = [epoch["rate"] for epoch in seen]
    assert rates[6:] == [ANNEAL_RATE * rates[0]] * 3 and rates[:6] == [rates[0]] * 6
    final = _encoders(model.module_.state_dict())
    assert _same_weights(final, _encoders(seen[7]["after"]))
    seen.clear()
    monkeypatch.setattr(skcorrnet._training, "ANNEAL_RATE", None)
    assert fitted(X, Y, max_iter=20, **settings).n_iter_ == 6


@given(st.lists(st.integers(-10, 10), max_size=40), st.integers(1, 4))
def test_the_lower_rate_begins_where_stopping_would_stop_and_ends_at_a_non_gain(
    scores, patience
):
    """Integer scores (standard error 1, tol 1). The run goes on at
    ANNEAL_RATE from the epoch at which the stopping rule alone would stop,
    never stops before it, and from then on stops at its first epoch that
    does not beat the best; the rate drops once. Without validation scores
    the rule alone stops."""
    history, alone = History(), History()
    for h in (history, alone):
        h.start_validation()
        h.start_score(0.0, 0.0)
    began = stopped = None
    for epoch, score in enumerate(map(float, scores)):
        was = history.annealing
        improved = history.improved(score, 1.0, 1.0)
        alone.improved(score, 1.0, 1.0)
        stop = history.settle(patience, improved)
        if began is None and alone.exhausted(patience):
            began = epoch
            assert history.rate_factor == ANNEAL_RATE and not stop
        assert history.annealing == (began is not None)
        if was:
            assert stop == (not improved)
        if stop:
            stopped = epoch
            break
    assert stopped is None or began is not None and stopped > began
    unvalidated = History()
    unvalidated.no_improvement_count = patience + 1
    assert unvalidated.settle(patience, False) and not unvalidated.annealing


@given(st.lists(st.floats(-5.0, 5.0), min_size=1, max_size=15), st.floats(0.0, 2.0))
def test_the_weights_kept_are_the_last_epoch_s_near_the_best(scores, error):
    """Once an epoch has left the start, an epoch is kept (its weights
    replace the kept ones) when it is the best so far or scores within
    KEEP_ERRORS errors of the best: the last kept is the last epoch that
    close to the final best, though the best may come after an epoch kept
    on the way."""
    history = History()
    history.start_validation()
    history.start_score(-10.0, 0.0)
    kept = [
        i
        for i, score in enumerate(scores)
        if history.improved(score, 0.0, error)
        | history.near_best(score, KEEP_ERRORS * error)
    ]
    near = [i for i, s in enumerate(scores) if s >= max(scores) - KEEP_ERRORS * error]
    assert kept[-1] == max(near)
    fresh = History()
    fresh.start_validation()
    fresh.start_score(0.0, 1.0)
    assert not fresh.near_best(0.0, 1.0)  # the start is kept: only its margin counts


@pytest.mark.parametrize("ranking_weight, margin", [(0.0, 0.15), (1.0, None)])
def test_a_later_epoch_near_the_best_is_kept_for_correlation_not_retrieval(
    ranking_weight, margin
):
    """Half a standard error (here 0.3) of the correlation score; with a
    ranking term, whose retrieval score the rule was not measured on, the
    best epoch is kept."""
    params = CorrNet(ranking_weight=ranking_weight).get_params()
    assert Schedule.from_params(params).keep_margin(0.3) == margin


def _spy_runs(monkeypatch, bonus=(0.0, 0.0), script=None):
    """Record each training run of a fit (in a race, in the order of their
    first epochs: the linear start's first): its starting and final weights
    (no final weights for a run dropped in a race), whether its optimiser's
    state was empty, the held-out scores its epochs returned. Run i's
    epochs (not its start) score ``bonus[i]`` more than they did; with
    ``script``, run i's scores are ``script[i]`` = (start, epochs), with a
    standard error of 0.1 (epochs: one score, or one per epoch), and the
    standard errors of the epochs' scores."""
    runs, epochs = [], Trainer.epochs

    def spy(self, data, history, n_epochs, scorer=None, *args, **kwargs):
        i = len(runs)
        record = {"start": copy.deepcopy(self.module.state_dict()),
                  "fresh_optimizer": not self.optimizer.state, "scores": [],
                  "errors": []}  # fmt: skip
        runs.append(record)
        calls = []

        def scored(module):
            calls.append(None)
            if script is not None:
                start, epochs = script[i]
                epochs = np.broadcast_to(epochs, n_epochs)
                score, error = epochs[len(calls) - 2] if len(calls) > 1 else start, 0.1
            else:
                score, error = scorer(module)
                score += bonus[i] if len(calls) > 1 else 0.0
            if len(calls) > 1:
                record["scores"].append(score)
                record["errors"].append(error)
            return score, error

        yield from epochs(
            self, data, history, n_epochs, scored if scorer else None, *args, **kwargs
        )
        record["end"] = copy.deepcopy(self.module.state_dict())

    monkeypatch.setattr(Trainer, "epochs", spy)
    return runs


def _same_weights(a, b):
    return all(torch.equal(a[key], b[key]) for key in a)


def _encoders(state):
    """The weights of a state dict that encode (all but the decoders')."""
    return {key: value for key, value in state.items() if "decoder" not in key}


@pytest.mark.parametrize("winner, bonus", [("cca", (1.0, 0.0)), ("random", (0.0, 1.0))])
def test_auto_start_keeps_the_run_that_scores_better(monkeypatch, winner, bonus):
    """With early stopping, init="auto" trains from the linear start and
    from the module's initial random weights (an init="random" fit's), each
    with a fresh optimiser, and keeps the weights, scores and start of the
    run that scored higher on the held-out rows."""
    X, Y = two_views(noise=1.0)
    settings = dict(early_stopping=True, max_iter=4, n_iter_no_change=np.inf)
    runs = _spy_runs(monkeypatch, bonus)
    model = fitted(X, Y, **settings)
    assert len(runs) == 2 and all(run["fresh_optimizer"] for run in runs)
    linear, random_run = runs
    assert not _same_weights(linear["start"], random_run["start"])
    kept = linear if winner == "cca" else random_run
    assert model.init_ == winner
    # The kept run's network; its decoders then become least-squares readouts.
    state = model.module_.state_dict()
    assert _same_weights(_encoders(state), _encoders(kept["end"]))
    assert model.validation_scores_ == kept["scores"]
    assert (model.linear_start_ridge_ is None) == (winner == "random")
    runs.clear()
    fitted(X, Y, init="random", **settings)
    assert _same_weights(runs[0]["start"], random_run["start"])


def test_the_linear_run_of_a_race_trains_as_it_would_alone(monkeypatch):
    """The random run shuffles from a copy of the fit's generator, so the
    linear start's run takes the steps of an init="cca" fit: its epochs
    score the same on the held-out rows (here 1 more, its bonus)."""
    X, Y = two_views(noise=1.0)
    settings = dict(early_stopping=True, max_iter=3, n_iter_no_change=np.inf)
    alone = fitted(X, Y, init="cca", **settings)
    raced = _spy_runs(monkeypatch, bonus=(1.0, 0.0))
    fitted(X, Y, **settings)
    assert len(alone.validation_scores_) == 3
    assert raced[0]["scores"] == [s + 1.0 for s in alone.validation_scores_]


@pytest.mark.parametrize(
    "script, epochs, winner",
    [
        (((5.0, 4.0), (0.0, 5.25)), (8, 8), "random"),  # 0.25 behind: < 3 errors
        (((5.0, 4.0), (0.0, 5.4)), (3, 8), "random"),  # 0.4 behind, no gain
        (((5.0, 6.0), (0.0, 4.0)), (8, 3), "cca"),  # 2 behind, no gain
        # 4 behind after its second epoch, but gaining 1 an epoch: it climbs on
        (((5.0, 6.0), (0.0, np.minimum(np.arange(1.0, 9.0), 6.2))), (8, 8), "random"),
    ],
)
def test_a_run_that_falls_behind_in_the_race_stops(
    monkeypatch, capsys, script, epochs, winner
):
    """Scripted held-out scores (standard error 0.1): a run whose best is
    more than 3 standard errors below the best of the other's trained
    epochs, and more than 3 times its own last gain, after 2 rounds in a
    row (from the second: the first epoch gains on no scored epoch) stops
    there, and the log says so; the other trains on (here to max_iter=8).
    A run 4 behind that gains 1 an epoch goes on, and wins."""
    runs = _spy_runs(monkeypatch, script=script)
    X, Y = two_views(noise=1.0)
    model = fitted(
        X, Y, early_stopping=True, max_iter=8, n_iter_no_change=np.inf, verbose=1
    )
    assert tuple(len(run["scores"]) for run in runs) == epochs
    assert model.init_ == winner
    kept = runs[winner == "random"]
    assert model.n_iter_ == len(kept["scores"]) == 8
    log = capsys.readouterr().out
    assert log.count("CCA start, epoch") == epochs[0]
    assert log.count("random start, epoch") == epochs[1]
    assert ("start's by more than 3 standard errors" in log) == (min(epochs) < 8)


@pytest.mark.parametrize("random_score, winner", [(5.05, "cca"), (5.2, "random")])
def test_a_random_run_must_beat_a_kept_start_by_tol(monkeypatch, random_score, winner):
    """Scripted held-out scores (standard error 0.1, so tol="auto" is 0.1):
    the linear run's epochs score 4 against its start's 5, so it keeps its
    start; the random run then replaces it only by scoring above 5 + 0.1."""
    _spy_runs(monkeypatch, script=((5.0, 4.0), (0.0, random_score)))
    X, Y = two_views(noise=1.0)
    model = fitted(X, Y, early_stopping=True, max_iter=2, n_iter_no_change=np.inf)
    assert model.init_ == winner
    assert model.best_validation_score_ == (5.0 if winner == "cca" else random_score)


@pytest.mark.parametrize("n_rows, n_draws", [(300, 4), (1000, 1)])
def test_a_start_no_epoch_beats_is_refitted_on_every_row(monkeypatch, n_rows, n_draws):
    """Where no epoch of either run beats the CCA start's held-out score by
    tol, the model is the CCA start refitted as when it is the whole model:
    on every paired row (the held-out ones too), its ridge cross-validated
    over four draws of the folds below 1,000 rows and one from there on,
    and towards PLS."""
    X, Y = two_views(n_samples=n_rows, noise=1.0)
    starts, start_linear = [], CorrNet._start_linear
    draws, choose = [], skcorrnet._canonical.choose_ridge

    def spy(self, X, Y, rows, ranks, final):
        start_linear(self, X, Y, rows, ranks, final)
        starts.append((rows, final, copy.deepcopy(self.module_.state_dict())))

    def spy_choice(folds, *args, **kwargs):
        draws.append((len(folds), kwargs["extended"]))
        return choose(folds, *args, **kwargs)

    monkeypatch.setattr(CorrNet, "_start_linear", spy)
    monkeypatch.setattr(skcorrnet._canonical, "choose_ridge", spy_choice)
    _spy_runs(monkeypatch, bonus=(-100.0, -100.0))  # every epoch scores low
    model = fitted(X, Y, early_stopping=True, max_iter=3, n_iter_no_change=np.inf)
    assert model.init_ == "cca" and model.n_iter_ == 3
    (train_rows, first, _), (rows, final, state) = starts
    assert not first and final and len(train_rows) == n_rows * 0.9
    np.testing.assert_array_equal(rows, np.arange(n_rows))
    assert _same_weights(_encoders(model.module_.state_dict()), _encoders(state))
    assert draws == [(1, ()), (n_draws, PLS_RIDGES)]


@pytest.mark.parametrize(
    "ranking_weight, tol, margin", [(0.0, "auto", 0.3), (0.0, 0.05, 0.05), (1.0, "auto", 0.0)]
)
def test_the_start_s_margin_is_tol_for_correlation_and_zero_for_retrieval(
    ranking_weight, tol, margin
):
    """The CCA start is the linear optimum of the correlation score, so an
    epoch must beat it by tol (here "auto": the score's standard error, 0.3);
    a ranking term's retrieval score it does not optimise: any gain counts."""
    params = CorrNet(ranking_weight=ranking_weight, tol=tol).get_params()
    assert Schedule.from_params(params).start_margin(0.3) == margin


@given(st.floats(0.5, 5.0), st.lists(st.floats(-10.0, 10.0), min_size=1, max_size=10))
def test_an_epoch_replaces_the_start_only_by_its_margin(margin, scores):
    """The first best epoch must beat the start by ``margin`` (tol); from
    then on any higher score is the best."""
    history = History()
    history.start_validation()
    history.start_score(0.0, margin)
    best, left = 0.0, False
    for score in scores:
        improved = history.improved(score, margin)
        assert improved == (score > (best if left else best + margin))
        if improved:
            best, left = score, True
        assert history.kept_start is not left
        assert history.best_validation_score_ == best


@pytest.mark.parametrize(
    "params, start",
    [
        ({"init": "cca"}, "cca"),
        ({"init": "random"}, "random"),
        ({"early_stopping": False}, "cca"),
        ({"checkpoint_path": "fit.pt"}, "cca"),
        ({"hidden_layer_sizes": ()}, "cca"),
    ],
)
def test_auto_start_trains_once_where_it_cannot_compare(
    monkeypatch, tmp_path, params, start
):
    """A set init, no held-out rows, a checkpoint to resume, or a linear
    network (the CCA start is its optimum): one run."""
    if "checkpoint_path" in params:
        params = {"checkpoint_path": str(tmp_path / params["checkpoint_path"])}
    runs = _spy_runs(monkeypatch)
    model = fitted(*two_views(), **{"early_stopping": True, "max_iter": 2, **params})
    assert len(runs) == 1 and model.init_ == start


@pytest.mark.parametrize(
    "n_rows, validated, trained", [(300, True, True), (290, False, False)]
)
def test_auto_early_stopping_follows_the_row_count(n_rows, validated, trained):
    """"auto" holds out rows when at least 30 would be held out, and below
    that keeps the linear start (no epoch is trained)."""
    X, Y = two_views(n_samples=n_rows, seed=0)
    model = CorrNet(
        n_components=2, hidden_layer_sizes=(8,), max_iter=2, n_iter_no_change=np.inf,
        random_state=0, device="cpu",
    )
    model.fit(X, Y)
    assert (model.validation_scores_ is not None) == validated
    assert model.n_iter_ == (2 if trained else 0)


def test_cca_docstring_example_fits_without_warnings():
    """scikit-learn's CCA example (4 rows): the defaults fit it silently."""
    X = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [2.0, 2.0, 2.0], [3.0, 5.0, 4.0]]
    Y = [[0.1, -0.2], [0.9, 1.1], [6.2, 5.9], [11.9, 12.3]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CorrNet(n_components=1, device="cpu").fit(X, Y)
    x_scores, y_scores = model.transform(X, Y)
    assert np.corrcoef(x_scores[:, 0], y_scores[:, 0])[0, 1] > 0.9


@pytest.mark.parametrize(
    "n_features, params, n_draws, extended",
    [
        (5, {}, 4, PLS_RIDGES),
        (5, {"early_stopping": True, "init": "cca"}, 1, ()),
        (513, {}, 1, PLS_RIDGES),
    ],
)
def test_a_start_that_is_the_model_cross_validates_over_four_draws(
    monkeypatch, n_features, params, n_draws, extended
):
    """With too few rows to validate training, the ridge CV sums its scores
    over 4 draws of 5 folds, each a partition of the training rows, and may
    go on to the ridges towards PLS; a start that training follows, or views
    over 512 columns, take one draw; a start that training follows keeps to
    RIDGES."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(290, 1))  # too few rows to validate training
    X = z + rng.normal(size=(290, n_features))
    Y = z + rng.normal(size=(290, 4))
    seen = []
    choose = skcorrnet._canonical.choose_ridge

    def spy(draws, *args, **kwargs):
        seen.append((draws, args, kwargs))
        return choose(draws, *args, **kwargs)

    monkeypatch.setattr(skcorrnet._canonical, "choose_ridge", spy)
    model = CorrNet(n_components=2, random_state=0, max_iter=1, **params).fit(X, Y)
    draws, args, kwargs = seen[0]  # (early stopping may refit a kept start)
    assert kwargs == {"extended": extended}
    assert len(draws) == n_draws and all(len(folds) == 5 for folds in draws)
    n_train = 290 if "early_stopping" not in params else 261
    assert all(sum(m.n_rows for m in folds) == n_train for folds in draws)
    sums = {tuple(m.summary()[1][:2].round(12)) for folds in draws for m in folds}
    assert len(sums) == 5 * n_draws  # the draws split the rows differently
    last_draws, last_args, last_kwargs = seen[-1]
    assert model.linear_start_ridge_ == choose(last_draws, *last_args, **last_kwargs)


def test_linear_start_is_the_closed_form_ridge_cca():
    """Before any epoch, the network is the ridge CCA of the standardised
    (and clipped) views: its latents are that CCA's variates."""
    from skcorrnet._linear_cca import fit_linear_cca

    X, Y = two_views(n_samples=290)
    X[0, 0] = X[:, 0].mean() + 30 * X[:, 0].std()  # clipped at 5 sd
    model = CorrNet(n_components=2, random_state=0, device="cpu").fit(X, Y)
    assert model.n_iter_ == 0  # 290 rows: too few to validate training
    assert model.loss_ is None and model.loss_curve_ == []
    Xs = np.clip((X - model.x_mean_) / model.x_std_, -5.0, 5.0)
    Ys = np.clip((Y - model.y_mean_) / model.y_std_, -5.0, 5.0)
    cca = fit_linear_cca(Xs, Ys, 2, reg=model.linear_start_ridge_)
    a, b = cca.transform(Xs, Ys)
    net = model.module_.double()
    with torch.no_grad():
        hx = net.latent(net.pre_x(torch.from_numpy(Xs))).numpy()
        hy = net.latent(net.pre_y(torch.from_numpy(Ys))).numpy()
    np.testing.assert_allclose(hx - hx.mean(0), a - a.mean(0), atol=1e-4)
    np.testing.assert_allclose(hy - hy.mean(0), b - b.mean(0), atol=1e-4)


def _beyond(X, j, sds):
    """Copies of X's first 5 rows with column j set ``sds`` training
    standard deviations above its mean."""
    rows = np.array(X[:5], dtype=np.float64)
    rows[:, j] = X[:, j].mean() + sds * X[:, j].std(ddof=1)
    return rows


@pytest.mark.parametrize("scale", [True, False])
def test_input_clip_bounds_what_the_network_sees(views, scale):
    """Past ``input_clip`` training standard deviations, a value no longer
    changes the output; without clipping it does."""
    X, Y = views
    X = X * np.arange(1, X.shape[1] + 1)  # columns of unequal spread
    for clip, same in ((5.0, True), (None, False)):
        model = fitted(X, Y, input_clip=clip, scale=scale)
        far, farther = _beyond(X, 2, 6.0), _beyond(X, 2, 1e3)
        for method in (model.transform, model.predict):
            assert np.array_equal(method(far), method(farther)) == same
        inside = _beyond(X, 2, 4.0)  # within the bound: no clipping
        assert not np.array_equal(model.transform(inside), model.transform(far))


def test_input_clip_ignores_columns_constant_in_training(views):
    X, Y = views
    X = np.hstack([X, np.full((X.shape[0], 1), 3.0)])
    model = fitted(X, Y)
    changed = np.array(X[:5])
    changed[:, -1] = [-50.0, 0.0, 3.5, 7.0, 1e4]
    np.testing.assert_array_equal(model.transform(changed), model.transform(X[:5]))


def test_input_clip_bounds_sparse_views_about_zero(views):
    X, Y = views
    X = np.where(np.abs(X) > 1.0, X, 0.0)  # about a third of the values stored
    model = fitted(sp.csr_matrix(X), Y)
    sd = X[:, 2].std(ddof=1)  # sparse views are not centred: the bound is about 0
    far, farther = (np.array(X[:5]) for _ in range(2))
    far[:, 2], farther[:, 2] = 6.0 * sd, 1e3 * sd
    z_far = model.transform(sp.csr_matrix(far))
    np.testing.assert_array_equal(z_far, model.transform(sp.csr_matrix(farther)))
    far[:, 2] = 4.0 * sd
    assert not np.array_equal(model.transform(sp.csr_matrix(far)), z_far)


def test_alpha_shrinks_the_weights(views):
    X, Y = views
    norms = [
        sum(
            float((w.detach() ** 2).sum())
            for name, w in fitted(X, Y, alpha=alpha).module_.named_parameters()
            if "weight" in name
        )
        for alpha in (0.0, 10.0)
    ]
    assert norms[1] < 0.5 * norms[0]


@given(st.integers(1, 10**7), st.integers(1, 10**7))
def test_auto_learning_rate_bounds_the_drift_of_an_epoch(n_steps, more):
    # 2e-2 up to 12 steps an epoch; beyond, rate * sqrt(steps) stays at
    # 1e-2 * sqrt(50) (1e-2 at 50 steps), and more steps never get a larger rate.
    schedule = Schedule.from_params(CorrNet().get_params())
    rate = schedule.rate(n_steps)
    assert rate == 2e-2 if n_steps <= 12 else rate < 2e-2
    assert rate * n_steps**0.5 <= 1e-2 * 50**0.5 * (1 + 1e-12)
    assert schedule.rate(50) == pytest.approx(1e-2, rel=1e-12)
    # With a ranking term, at most 1e-2: the same rate from 50 steps on.
    ranking = Schedule.from_params(CorrNet(ranking_weight=1.0).get_params())
    assert ranking.rate(n_steps) == min(rate, 1e-2)
    assert schedule.rate(n_steps + more) <= rate
    fixed = Schedule.from_params(CorrNet(learning_rate_init=0.3).get_params())
    assert fixed.rate(n_steps) == 0.3


@given(st.floats(0, 10), st.one_of(st.none(), st.floats(0, 10)))
def test_auto_tol_is_the_validation_scores_standard_error(tol, error):
    # With a validation score, "auto" is its standard error; on the training
    # loss (error None), MLPRegressor's 1e-4. A float is used as given.
    auto = Schedule.from_params(CorrNet().get_params())
    assert auto.tolerance(error) == (1e-4 if error is None else error)
    fixed = Schedule.from_params(CorrNet(tol=tol).get_params())
    assert fixed.tolerance(error) == tol


def test_auto_tol_stops_as_a_tol_of_the_scores_standard_error(monkeypatch):
    """A fit whose held-out score has a standard error of 0.01 stops, and
    keeps its weights, as a fit at tol=0.01 does: earlier than at tol=0.
    (The rule alone: no training on at a lower rate, which would part the
    scores of the fits once the first runs out of patience.)"""
    X, Y = two_views(noise=1.0)
    monkeypatch.setattr(skcorrnet._training, "ANNEAL_RATE", None)
    settings = dict(
        early_stopping=True, init="random", n_iter_no_change=2, max_iter=60
    )
    monkeypatch.setattr(
        skcorrnet._canonical, "summed_correlation_error", lambda r, n: 0.01
    )
    auto = fitted(X, Y, **settings)
    fixed = fitted(X, Y, tol=0.01, **settings)
    patient = fitted(X, Y, tol=0.0, **settings)
    assert auto.n_iter_ == fixed.n_iter_ < patient.n_iter_
    assert auto.validation_scores_ == patient.validation_scores_[: auto.n_iter_]
    np.testing.assert_array_equal(auto.transform(X), fixed.transform(X))


@given(st.integers(2, 10), st.integers(1, 20))
def test_stopping_counts_epochs_since_a_gain_of_tol(tol, plateau):
    """A score climbing by 1 < tol an epoch never counts more than tol - 1
    epochs without improvement (MLPRegressor's rule, which compares with the
    best, would count every one of them); on a plateau the count grows by one
    an epoch. Integer scores keep the comparisons exact."""
    history = History()
    history.start_validation()
    history.start_score(0.0, 0.0)
    counts = []
    for score in range(1, 41):
        assert history.improved(float(score), float(tol))  # the best so far
        counts.append(history.no_improvement_count)
    assert max(counts) == tol - 1
    for epoch in range(1, plateau + 1):
        assert not history.improved(40.0, float(tol))
        assert history.no_improvement_count == counts[-1] + epoch
    assert history.best_validation_score_ == 40.0


@given(st.integers(1, 5), st.integers(0, 2), st.lists(st.integers(-3, 0), max_size=12))
def test_a_score_falling_past_its_errors_stops_three_epochs_after_its_fall(dip, low, noise):
    """Scores in units of the standard error (1): a dip below the start does
    not stop a fit before its first gain; after a gain, a plateau within 3
    errors never stops it; ``low`` epochs more than 3 errors below, then one
    back within them, reset the count; 3 in a row stop it, whatever
    ``n_iter_no_change`` (but infinity) allows."""
    history = History()
    history.start_validation()
    history.start_score(0.0, 0.0)
    for _ in range(5):  # leaving the start
        history.improved(-3.0 - dip, 1.0, 1.0)
    assert history.no_improvement_count == 5 and not history.exhausted(10)
    history.improved(10.0, 1.0, 1.0)  # a gain: the reference is 10
    for step in noise + [-4] * low + [0]:  # a noisy plateau, then a short fall
        history.improved(10.0 + step, 1.0, 1.0)
        assert not history.exhausted(100)
    for epoch in range(1, 4):
        history.improved(6.5, 1.0, 1.0)
        assert history.exhausted(100) is (epoch == 3)
    assert not history.exhausted(np.inf) and history.best_validation_score_ == 10.0
    assert history.falling() and not History.from_state(history.state()).exhausted(np.inf)


def _blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.mark.skipif(not _blas_threads(), reason="numpy's BLAS is not visible")
def test_early_stopping_scores_with_one_blas_thread(monkeypatch):
    """Training (and its held-out score) runs with numpy's BLAS on one
    thread; the caller's BLAS setting is back after the fit."""
    X, Y = two_views()
    seen = []
    score = skcorrnet._corrnet.held_out_total_correlation

    def spy(*args):
        seen.append(_blas_threads())
        return score(*args)

    monkeypatch.setattr(skcorrnet._corrnet, "held_out_total_correlation", spy)
    with threadpool_limits(limits=2, user_api="blas"):
        fitted(X, Y, early_stopping=True, max_iter=3, init="cca")
        after = _blas_threads()
    assert len(seen) == 4  # the start and three epochs
    assert all(threads == [1] * len(threads) for threads in seen)
    assert after == [2] * len(after)


@pytest.mark.parametrize("n_components, n_fit", [(2, 4096), (60, 4800)])
def test_early_stopping_score_fits_on_enough_rows_per_unit(
    monkeypatch, n_components, n_fit
):
    """The score's k x k CCA is fitted on a sample of the training rows: 80
    per latent unit, at least 4096, drawn once per fit (both starts of
    init="auto" are scored on it), none held out."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6000, 1))
    X = np.hstack([z, rng.normal(size=(6000, 59))])
    Y = np.hstack([z, rng.normal(size=(6000, 59))])
    seen = []
    score = skcorrnet._corrnet.held_out_total_correlation

    def spy(module, X, Y, stats, fit_rows, score_rows, ranks):
        seen.append((fit_rows.copy(), score_rows.copy()))
        return score(module, X, Y, stats, fit_rows, score_rows, ranks)

    monkeypatch.setattr(skcorrnet._corrnet, "held_out_total_correlation", spy)
    fitted(X, Y, n_components=n_components, early_stopping=True, max_iter=1,
           hidden_layer_sizes=(8,))  # fmt: skip
    (fit_rows, score_rows), *again = seen
    assert len(again) == 3  # each start, then an epoch from it
    assert len(fit_rows) == n_fit == len(np.unique(fit_rows))
    assert all(np.array_equal(fit_rows, rows) for rows, _ in again)
    assert not np.isin(fit_rows, score_rows).any()


def test_auto_learning_rate_is_the_rate_the_steps_take(views):
    X, Y = views
    n_steps = -(-X.shape[0] // 2)  # batch_size=2: over 12 steps an epoch
    rate = 2e-2 * (12.5 / n_steps) ** 0.5
    auto = fitted(X, Y, batch_size=2, max_iter=2)
    fixed = fitted(X, Y, batch_size=2, max_iter=2, learning_rate_init=rate)
    assert [g["lr"] for g in auto._optimizer.param_groups] == [rate, rate]
    np.testing.assert_array_equal(auto.transform(X), fixed.transform(X))
    few = fitted(X, Y, max_iter=1)  # 3 steps an epoch
    assert few._optimizer.param_groups[0]["lr"] == 2e-2


@pytest.mark.parametrize(
    "n_components, n_rows, batch",
    [(2, 10**5, 128), (16, 10**5, 128), (20, 10**5, 160), (50, 10**5, 400),
     (50, 5000, 250), (50, 2000, 128)],
)  # fmt: skip
def test_auto_batch_holds_eight_rows_per_unit_within_its_bounds(
    n_components, n_rows, batch
):
    """8 rows per latent unit, at least 128, at most a twentieth of the rows."""
    assert auto_batch(n_rows, n_components) == batch


def test_auto_batch_is_the_batch_a_fit_takes():
    """batch_size="auto" on 4,000 rows at k = 20: batches of 160 rows, 25
    steps an epoch (the rate they take), as batch_size=160 gives."""
    X, Y = two_views(n_samples=4000, n_shared=20, p=24, q=24)
    params = dict(n_components=20, max_iter=1, n_iter_no_change=np.inf)
    auto, fixed = fitted(X, Y, **params), fitted(X, Y, batch_size=160, **params)
    assert auto._optimizer.param_groups[0]["lr"] == 2e-2 * (12.5 / 25) ** 0.5
    np.testing.assert_array_equal(auto.transform(X), fixed.transform(X))
    default = fitted(X, Y, batch_size=128, **params)
    assert default._optimizer.param_groups[0]["lr"] == 2e-2 * (12.5 / 32) ** 0.5


@pytest.mark.parametrize("sizes", [16, np.array([16]), [16]])
def test_hidden_layer_sizes_accepts_ints_and_arrays(views, sizes):
    model = fitted(*views, hidden_layer_sizes=sizes, max_iter=1)
    reference = fitted(*views, hidden_layer_sizes=(16,), max_iter=1)
    np.testing.assert_array_equal(model.transform(views[0]), reference.transform(views[0]))


def _decoder_layers(module, view):
    branch = module.decoder(view).branch
    if branch is None:
        return []
    return [tuple(m.weight.shape) for m in branch if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize(
    "given, widths",
    [((), ()), (16, (16,)), ([16, 8], (16, 8)), ("mirror", (16, 32))],
)
def test_decoder_layer_sizes_sets_the_decoders_branches(views, given, widths):
    # Layers run from the latent units (k=2) out to the view; the encoders are
    # untouched, and "mirror" reverses hidden_layer_sizes.
    X, Y = views
    model = fitted(
        X, Y, hidden_layer_sizes=(32, 16), decoder_layer_sizes=given, max_iter=1
    )
    for view, width in (("x", X.shape[1]), ("y", Y.shape[1])):
        sizes = (2, *widths, width)
        expected = [(n_out, n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        assert _decoder_layers(model.module_, view) == (expected if widths else [])
        assert model.module_.decoder(view).linear.weight.shape == (width, 2)
    encoder = [layer.weight.shape[0] for layer in model.module_.encoder_x.branch[::2]]
    assert encoder == [32, 16, 2]
    assert model.predict(X).shape == Y.shape


def test_partial_fit_continues_training(views):
    X, Y = views
    model = CorrNet(**FAST)
    for _ in range(3):
        for chunk in np.array_split(np.arange(300), 3):
            model.partial_fit(X[chunk], Y[chunk])
    assert model.n_iter_ == 9
    assert model.loss_curve_[-1] < model.loss_curve_[0]
    # The scaling statistics are those of the whole stream (3 passes over Y).
    np.testing.assert_allclose(model.x_mean_, X.mean(axis=0))
    np.testing.assert_allclose(model.y_std_, np.tile(Y, (3, 1)).std(axis=0, ddof=1))


def test_partial_fit_on_chunks_trains_like_fit(digit_halves):
    # The streaming recipe: successive chunks, as many passes as fit's epochs.
    L, R = digit_halves
    train, test = np.arange(1400), np.arange(1400, len(L))
    params = dict(n_components=5, random_state=0, device="cpu")
    full = CorrNet(max_iter=6, n_iter_no_change=np.inf, **params).fit(L[train], R[train])
    stream = CorrNet(**params)
    for _ in range(6):
        for chunk in np.array_split(train, 4):
            stream.partial_fit(L[chunk], R[chunk])
    assert stream.n_iter_ == 24

    def held_out(model):
        return total_correlation(
            *model.transform(L[train], R[train]), *model.transform(L[test], R[test])
        )

    assert held_out(stream) > 0.95 * held_out(full)
    # Each call fits predict's readout (as the rotation) on its own chunk: the
    # stream's on the last 350 rows, fit's on all 1,400.
    assert stream.score(L[test], R[test]) > full.score(L[test], R[test]) - 0.1


def test_one_trainer_serves_a_stream_of_partial_fits(views):
    # The trainer (and in a distributed fit its DDP wrapper) is built once
    # per stream; a changed objective or a fresh fit builds another.
    X, Y = views
    model = CorrNet(**FAST)
    model.partial_fit(X[:150], Y[:150])
    trainer = model._kept_trainer
    model.partial_fit(X[150:], Y[150:])
    assert model._kept_trainer is trainer and trainer.module is model.module_
    model.set_params(ranking_weight=1.0).partial_fit(X[:150], Y[:150])
    assert model._kept_trainer is not trainer
    assert model._kept_trainer.objective.ranking_weight == 1.0
    trainer = model._kept_trainer
    model.fit(X, Y)
    assert model._kept_trainer is not trainer
    assert "_kept_trainer" not in pickle.loads(pickle.dumps(model)).__dict__


def test_float64_inference_follows_every_partial_fit(views):
    # float64 input runs through a float64 copy of the network, refreshed by
    # each training call: it must never lag behind the float32 network.
    X, Y = views
    model = CorrNet(**FAST)
    for chunk in np.array_split(np.arange(300), 3):
        model.partial_fit(X[chunk], Y[chunk])
        np.testing.assert_allclose(
            model.predict(X), model.predict(X.astype(np.float32)), rtol=1e-4, atol=1e-4
        )
    state = model.module_.state_dict()
    for name, tensor in model._module64.state_dict().items():
        assert tensor.dtype == torch.float64
        assert torch.equal(tensor, state[name].double())


def test_warm_start_continues(views):
    X, Y = views
    model = fitted(X, Y, max_iter=3, warm_start=True, n_iter_no_change=np.inf)
    first_module = model.module_
    model.fit(X, Y)
    assert model.n_iter_ == 6 and model.module_ is first_module
    cold = fitted(X, Y, max_iter=3, n_iter_no_change=np.inf)
    cold.fit(X, Y)
    assert cold.n_iter_ == 3


def test_warm_start_can_turn_early_stopping_off(views):
    """After a fit with early stopping, a warm start without it trains on,
    judged by the training loss, as MLPRegressor's attributes say."""
    X, Y = views
    model = fitted(X, Y, max_iter=3, warm_start=True, early_stopping=True,
                   n_iter_no_change=np.inf)  # fmt: skip
    assert len(model.validation_scores_) == 3 and model.best_loss_ is None
    model.set_params(early_stopping=False).fit(X, Y)
    assert model.n_iter_ == 6
    assert model.validation_scores_ is None and model.best_validation_score_ is None
    assert model.best_loss_ == min(model.loss_curve_[3:])


def test_a_warm_start_that_never_nears_the_kept_score_keeps_the_kept_weights(
    monkeypatch,
):
    """A warm start continues from the previous fit's kept weights, whose
    score is ``best_validation_score_``; if none of its epochs comes near
    that score, the fit ends with those weights, not its last epoch's (as
    MLPRegressor keeps its best coefficients)."""
    X, Y = two_views(noise=1.0)
    model = fitted(X, Y, init="random", early_stopping=True, max_iter=3,
                   n_iter_no_change=np.inf)  # fmt: skip
    kept, best = copy.deepcopy(model.module_.state_dict()), model.best_validation_score_
    runs = _spy_runs(monkeypatch, script=[(best - 1.0, best - 1.0)])
    model.set_params(warm_start=True).fit(X, Y)
    assert model.validation_scores_[3:] == [best - 1.0] * 3
    assert model.best_validation_score_ == best and model.n_iter_ == 6
    assert _same_weights(runs[0]["start"], kept)  # it trained from them...
    assert _same_weights(model.module_.state_dict(), kept)  # ...and kept them


# ----------------------------------------------------- dtypes and numerics


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_keep_input_dtype(views, dtype):
    X, Y = (a.astype(dtype) for a in views)
    model = fitted(X, Y)
    zx, zy = model.transform(X, Y)
    assert zx.dtype == zy.dtype == dtype
    assert model.predict(X).dtype == dtype
    assert model.predict_x(Y).dtype == dtype
    assert all(a.dtype == dtype for a in model.inverse_transform(zx, zy))


def test_integer_input_gives_float64(views):
    X, Y = views
    model = fitted(np.round(X * 10).astype(np.int64), Y)
    assert model.transform(np.round(X * 10).astype(np.int32)).dtype == np.float64


def test_float32_and_float64_inference_agree(views):
    X, Y = views
    model = fitted(X, Y)
    np.testing.assert_allclose(
        model.predict(X.astype(np.float32)), model.predict(X), rtol=1e-4, atol=1e-4
    )


def test_same_seed_is_bitwise_identical(views):
    X, Y = views
    a, b = fitted(X, Y, random_state=3), fitted(X, Y, random_state=3)
    assert np.array_equal(a.transform(X), b.transform(X))
    assert a.loss_curve_ == b.loss_curve_
    c = fitted(X, Y, random_state=4)
    assert not np.array_equal(a.transform(X), c.transform(X))


def test_global_torch_seed_does_not_matter(views):
    X, Y = views
    torch.manual_seed(1)
    a = fitted(X, Y)
    torch.manual_seed(2)
    b = fitted(X, Y)
    assert np.array_equal(a.predict(X), b.predict(X))


def test_constant_columns_give_finite_results(views):
    X, Y = views
    X = np.hstack([X, np.full((300, 1), 7.0)])
    Y = np.hstack([Y, np.zeros((300, 2))])
    model = fitted(X, Y)
    assert model.x_std_[-1] == 1.0 and model.y_std_[-1] == 1.0
    for out in (*model.transform(X, Y), model.predict(X), model.predict_x(Y)):
        assert np.all(np.isfinite(out))
    np.testing.assert_allclose(model.predict(X)[:, -2:], 0.0, atol=0.5)


def test_all_constant_views_give_finite_results():
    X = np.ones((10, 3))
    Y = np.zeros((10, 2))
    model = fitted(X, Y)
    assert np.all(np.isfinite(model.transform(X)))
    assert np.all(np.isfinite(model.canonical_correlations_))


@pytest.mark.parametrize("n_samples, batch_size", [(2, 1), (7, 3), (5, 100), (101, 50)])
def test_tiny_and_uneven_batches_never_nan(n_samples, batch_size):
    X, Y = two_views(n_samples=n_samples, seed=2, dtype=np.float32)
    model = fitted(X, Y, batch_size=batch_size, max_iter=5)
    assert np.all(np.isfinite(model.loss_curve_))
    assert np.all(np.isfinite(model.transform(X)))


def test_training_memory_stays_o_batch():
    """Four times the rows cost no more memory than a small part of the extra
    data: fitting float64 views (the linear start, training in float32, early
    stopping, the canonical pass) holds O(batch) and O(block) buffers plus row
    indices, never a copy of the views. Torch's allocations are counted."""
    rng = np.random.RandomState(0)

    def growth(n_rows, measure=True):
        X, Y = rng.normal(size=(n_rows, 256)), rng.normal(size=(n_rows, 128))
        model = CorrNet(
            n_components=2, hidden_layer_sizes=(8,), max_iter=1, batch_size=1024,
            device="cpu", random_state=0,
        )  # fmt: skip
        if not measure:  # torch's first-call allocations, not measured
            return model.fit(X, Y)
        return peak_memory_growth(lambda: model.fit(X, Y)), X.nbytes + Y.nbytes

    growth(2_000, measure=False)
    # Both sizes above 8,192 rows, where the O(block) buffers reach full size.
    (small, small_bytes), (large, large_bytes) = growth(10_000), growth(40_000)
    # A copy of X (float32 or float64) or a float64 copy of y would add at least
    # a third of the extra data; row indices add about 1%, and the allocator's
    # state after earlier tests up to about a fifth.
    assert large - small < 0.3 * (large_bytes - small_bytes)


# ------------------------------------------------------------ canonical output


def test_canonical_components_are_ordered_and_decorrelated(digit_halves):
    L, R = digit_halves
    model = CorrNet(n_components=6, hidden_layer_sizes=(64,), max_iter=8, random_state=0)
    model.fit(L, R)
    rho = model.canonical_correlations_
    assert np.all(np.diff(rho) <= 1e-12) and np.all((rho >= 0) & (rho <= 1))
    zx, zy = model.transform(L, R)
    pair_corr = [np.corrcoef(zx[:, i], zy[:, i])[0, 1] for i in range(6)]
    np.testing.assert_allclose(pair_corr, rho, atol=1e-3)
    for z in (zx, zy):
        within = np.corrcoef(z.T)
        np.testing.assert_allclose(within, np.eye(6), atol=1e-3)


def test_canonical_components_are_scaled_by_their_correlation(digit_halves):
    """Each training component's standard deviation is its canonical correlation,
    so cosines weigh a weakly shared direction less."""
    L, R = digit_halves
    model = CorrNet(n_components=4, max_iter=5, random_state=0).fit(L, R)
    zx, zy = model.transform(L, R)
    rho = model.canonical_correlations_
    np.testing.assert_allclose(zx.std(axis=0, ddof=1), rho, rtol=1e-3)
    np.testing.assert_allclose(zy.std(axis=0, ddof=1), rho, rtol=1e-3)


def test_canonical_rotation_is_exactly_undone(views):
    """Training does not depend on ``canonical``: the same seed gives the same
    network, so decoding must agree whether or not the rotation is applied."""
    X, Y = views
    rotated = fitted(X, Y, canonical=True)
    raw = fitted(X, Y, canonical=False)
    assert raw.canonical_correlations_ is None
    np.testing.assert_array_equal(rotated.predict(X), raw.predict(X))
    np.testing.assert_array_equal(rotated.predict_x(Y), raw.predict_x(Y))
    np.testing.assert_allclose(
        rotated.inverse_transform(rotated.transform(X)),
        raw.inverse_transform(raw.transform(X)),
        rtol=1e-9,
        atol=1e-9,
    )
    _, y_rec = rotated.inverse_transform(*rotated.transform(X, Y))
    _, y_rec_raw = raw.inverse_transform(*raw.transform(X, Y))
    np.testing.assert_allclose(y_rec, y_rec_raw, rtol=1e-9, atol=1e-9)


def test_predict_is_decoding_of_the_x_latent_with_deep_decoders(views):
    # Decoders with hidden layers predict themselves (no linear readout).
    X, Y = views
    raw = fitted(X, Y, canonical=False, decoder_layer_sizes=(8,))
    assert raw._readouts is None
    _, y_from_latent = raw.inverse_transform(raw.transform(X), raw.transform(X))
    np.testing.assert_allclose(raw.predict(X), y_from_latent, rtol=1e-9, atol=1e-9)


def _least_squares(latent, target):
    """Weight (width, k) and bias of the regression of target on latent."""
    design = np.column_stack([latent, np.ones(len(latent))])
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    return solution[:-1].T, solution[-1]


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_readouts_are_least_squares_maps_between_the_views(views, method):
    """After a fit or partial_fit call, each view's readout is the regression
    of that view, standardised, on the other view's latent; the decoders,
    which the training loss shares among three latents, are left as trained."""
    X, Y = views
    model = CorrNet(**{**FAST, "n_components": 2, "input_clip": None})
    getattr(model, method)(X, Y)
    decoders = copy.deepcopy(model.module_.state_dict())
    for source, A, target, B in (("x", X, "y", Y), ("y", Y, "x", X)):
        standardised = (B - getattr(model, f"{target}_mean_")) / getattr(
            model, f"{target}_std_"
        )
        weight, bias = _least_squares(model._latent(source, A), standardised)
        np.testing.assert_allclose(model._readouts[target][0], weight, atol=1e-6)
        np.testing.assert_allclose(model._readouts[target][1], bias, atol=1e-6)
    assert _same_weights(model.module_.state_dict(), decoders)


def test_readouts_of_a_semi_paired_fit_regress_on_its_paired_rows(views):
    # The y-only rows have no x latent to regress y on: only paired rows count.
    X, Y = views
    X = X.copy()
    X[:20] = np.nan  # y-only rows
    model = fitted(X, Y, allow_missing_views=True, input_clip=None)
    standardised = (Y[20:] - model.y_mean_) / model.y_std_
    weight, bias = _least_squares(model._latent("x", X[20:]), standardised)
    np.testing.assert_allclose(model._readouts["y"][0], weight, atol=1e-6)
    np.testing.assert_allclose(model._readouts["y"][1], bias, atol=1e-6)


def test_predict_is_the_regression_of_y_on_the_x_latent(views):
    # Without clipping, predict on the training rows is the least-squares
    # fit of y on h(x): the best linear decoding of the latent.
    X, Y = views
    model = fitted(X, Y, max_iter=3, input_clip=None)
    design = np.column_stack([model._latent("x", X), np.ones(len(X))])
    best = design @ np.linalg.lstsq(design, Y, rcond=None)[0]
    np.testing.assert_allclose(model.predict(X), best, atol=1e-4)


def test_readout_sums_of_sparse_targets_are_the_dense_ones():
    rng = np.random.default_rng(0)
    block = sp.random(40, 7, density=0.3, format="csr", random_state=0)
    h = torch.as_tensor(rng.standard_normal((40, 3)))
    dense = skcorrnet._canonical._target_sums(torch.as_tensor(block.toarray()), h)
    csr = torch.sparse_csr_tensor(
        torch.as_tensor(block.indptr, dtype=torch.int64),
        torch.as_tensor(block.indices, dtype=torch.int64),
        torch.as_tensor(block.data),
        size=block.shape,
    )
    for got, want in zip(skcorrnet._canonical._target_sums(csr, h), dense):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------- sklearn ecosystem


def test_pipeline_grid_search_and_cross_val(digit_halves):
    L, R = digit_halves
    small = dict(n_components=3, hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    pipe = make_pipeline(StandardScaler(), CorrNet(**small))
    pipe.fit(L, R)
    assert pipe.predict(L).shape == R.shape
    assert pipe.transform(L).shape == (len(L), 3)
    grid = GridSearchCV(pipe, {"corrnet__correlation_weight": [0.0, 2.0]}, cv=2)
    grid.fit(L, R)
    # Each cell of the grid is the score of a clone fitted by hand on that fold,
    # and the best is the cell with the highest mean.
    train, test = next(KFold(2).split(L))
    by_hand = clone(pipe).set_params(corrnet__correlation_weight=2.0)
    by_hand.fit(L[train], R[train])
    cell = grid.cv_results_["split0_test_score"][1]
    assert cell == pytest.approx(by_hand.score(L[test], R[test]), abs=1e-12)
    means = grid.cv_results_["mean_test_score"]
    assert grid.best_params_["corrnet__correlation_weight"] == [0.0, 2.0][np.argmax(means)]
    np.testing.assert_array_equal(
        grid.predict(L), grid.best_estimator_.predict(L)
    )
    scores = cross_val_score(CorrNet(**small), L, R, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


def test_corrnet_as_intermediate_pipeline_step(views):
    """CCA cannot be followed by another step; CorrNet can."""
    from sklearn.linear_model import Ridge

    X, Y = views
    pipe = make_pipeline(CorrNet(**FAST), Ridge()).fit(X, Y[:, 0])
    assert pipe.predict(X).shape == (300,)


def test_clone_keeps_params_not_state(views):
    X, Y = views
    model = fitted(X, Y, correlation_weight=1.5)
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "module_")


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_persistence_round_trip_is_identical(views, dump):
    X, Y = views
    model = fitted(X, Y)
    if dump == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        buffer = io.BytesIO()
        joblib.dump(model, buffer)
        buffer.seek(0)
        loaded = joblib.load(buffer)
    for method in ("transform", "predict"):
        assert np.array_equal(getattr(loaded, method)(X), getattr(model, method)(X))
    assert np.array_equal(loaded.predict_x(Y), model.predict_x(Y))
    # Training continues from the saved optimiser state exactly as the original.
    model.partial_fit(X, Y)
    loaded.partial_fit(X, Y)
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_pickled_state_holds_only_cpu_tensors(views):
    X, Y = views
    state = fitted(X, Y).__getstate__()
    tensors = list(state["module_"].state_dict().values())
    for group in state["_optimizer"]["state"].values():
        tensors += [v for v in group.values() if isinstance(v, torch.Tensor)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)


def test_model_saved_from_cuda_loads_on_cpu(views, monkeypatch):
    X, Y = views
    model = fitted(X, Y)
    expected = model.predict(X)
    state = model.__getstate__()
    state["device_"] = "cuda:0"  # as pickled on a GPU machine
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = CorrNet.__new__(CorrNet)
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        loaded.__setstate__(state)
    assert loaded.device_ == "cpu"
    assert np.array_equal(loaded.predict(X), expected)


def test_feature_names_and_pandas_output(digit_halves):
    pd = pytest.importorskip("pandas")
    L, R = digit_halves
    frame = pd.DataFrame(L, columns=[f"px{i}" for i in range(32)])
    model = CorrNet(n_components=2, max_iter=3, random_state=0).fit(frame, R)
    assert list(model.feature_names_in_) == list(frame.columns)
    model.set_output(transform="pandas")
    out = model.transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["corrnet0", "corrnet1"]
    assert out.index.equals(frame.index)


# ------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_rejected(views, bad):
    X, Y = views
    Xb, Yb = X.copy(), Y.copy()
    Xb[3, 1] = bad
    Yb[5, 0] = bad
    with pytest.raises(ValueError, match="X contains"):
        CorrNet().fit(Xb, Y)
    with pytest.raises(ValueError, match="y contains"):
        CorrNet().fit(X, Yb)
    model = fitted(X, Y)
    with pytest.raises(ValueError, match="X contains"):
        model.transform(Xb)
    with pytest.raises(ValueError, match="y contains"):
        model.transform_y(Yb)


def test_bad_shapes_are_rejected(views):
    X, Y = views
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        CorrNet().fit(X, Y[:-1])
    with pytest.raises(ValueError, match="minimum of 2"):
        CorrNet().fit(X[:1], Y[:1])
    with pytest.raises(ValueError, match="requires y"):
        CorrNet().fit(X, None)
    model = fitted(X, Y)
    with pytest.raises(ValueError, match="X has 5 features"):
        model.transform(X[:, :5])
    with pytest.raises(ValueError, match="y has 4 features"):
        model.predict_x(Y[:, :4])
    with pytest.raises(ValueError, match="y has 4 features"):
        model.partial_fit(X, Y[:, :4])
    with pytest.raises(ValueError, match="3 columns, but CorrNet has 2 components"):
        model.inverse_transform(np.zeros((4, 3)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"activation": "swish"}, "activation"),
        ({"solver": "lbfgs"}, "solver"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"learning_rate_init": 0.0}, "learning_rate_init"),
        ({"learning_rate_init": "fast"}, "learning_rate_init"),
        ({"tol": -1e-4}, "tol"),
        ({"tol": "loose"}, "tol"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "large"}, "batch_size"),
        ({"input_clip": 0.0}, "input_clip"),
        ({"input_clip": "5"}, "input_clip"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
        ({"decoder_layer_sizes": (8, 0)}, "decoder_layer_sizes"),
        ({"decoder_layer_sizes": "mirrored"}, "decoder_layer_sizes"),
        ({"device": "gpu7"}, "not a valid torch device"),
        ({"ranking_weight": 1.0, "correlation_weight": 0.0}, "needs correlation_weight"),
    ],
)
def test_bad_parameters_are_rejected(views, params, match):
    with pytest.raises(ValueError, match=match):
        CorrNet(**params).fit(*views)


def test_cuda_requested_without_cuda(views, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        CorrNet(device="cuda").fit(*views)
    assert CorrNet(device="auto", max_iter=1).fit(*views).device_ == "cpu"


def test_a_gpu_index_beyond_the_machine_is_refused(views, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"device='cuda:1' .* has 1 CUDA device"):
        CorrNet(device="cuda:1").fit(*views)


def test_methods_before_fit_raise_not_fitted(views):
    X, Y = views
    model = CorrNet()
    for call in (
        lambda: model.transform(X),
        lambda: model.transform_y(Y),
        lambda: model.predict(X),
        lambda: model.predict_x(Y),
        lambda: model.inverse_transform(np.zeros((2, 2))),
    ):
        with pytest.raises(NotFittedError):
            call()
