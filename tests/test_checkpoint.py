"""checkpoint_path: a killed fit resumes and ends as if it had never stopped."""

import os
import pickle
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch

import skcorrnet._checkpoint
from skcorrnet import CorrNet
from skcorrnet._training import Trainer

SETTINGS = dict(
    n_components=5, hidden_layer_sizes=(16,), max_iter=12, random_state=0, device="cpu"
)


def fit(X, Y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CorrNet(**{**SETTINGS, **params}).fit(X, Y)


def assert_same_fit(a, b):
    state_a, state_b = a.module_.state_dict(), b.module_.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert a.n_iter_ == b.n_iter_ and a.loss_curve_ == b.loss_curve_
    assert a.loss_terms_ == b.loss_terms_
    assert a.validation_scores_ == b.validation_scores_
    assert a.best_validation_score_ == b.best_validation_score_
    np.testing.assert_array_equal(a.x_std_, b.x_std_)
    np.testing.assert_array_equal(a.canonical_correlations_, b.canonical_correlations_)


def killed_at(epoch, monkeypatch):
    """Make training die at the start of ``epoch`` (1-based), as a kill would."""
    real, calls = Trainer.epoch, [0]

    def dying(*args, **kwargs):
        calls[0] += 1
        if calls[0] == epoch:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(Trainer, "epoch", dying)
    return lambda: monkeypatch.setattr(Trainer, "epoch", real)


@pytest.mark.parametrize(
    "early_stopping", [True, pytest.param(False, marks=pytest.mark.slow)]
)
def test_a_killed_fit_resumes_bitwise(
    digit_halves, tmp_path, monkeypatch, early_stopping
):
    L, R = digit_halves
    path = tmp_path / "fit.pt"
    # A checkpointed fit trains one run, from the CCA start: init="auto"
    # races a random start too only where there is no checkpoint.
    whole = fit(L, R, early_stopping=early_stopping, init="cca")
    revive = killed_at(6, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        fit(L, R, early_stopping=early_stopping, checkpoint_path=path)
    revive()
    saved = torch.load(path, weights_only=True)
    assert saved["epoch"] == 5 and not saved["finished"]
    resumed = fit(L, R, early_stopping=early_stopping, checkpoint_path=path)
    assert_same_fit(resumed, whole)
    np.testing.assert_array_equal(resumed.transform(L), whole.transform(L))
    # A finished checkpoint gives the finished model again, training nothing.
    assert_same_fit(
        fit(L, R, early_stopping=early_stopping, checkpoint_path=path), whole
    )


def test_a_killed_fit_that_keeps_its_start_resumes_to_the_same_refit(
    digit_halves, tmp_path, monkeypatch
):
    """A linear network starts at its optimum and no epoch beats it by tol:
    after 11 epochs it goes back to the start at a lower rate, which one more
    epoch does not beat either. The start is refitted on every row after
    training, from the random state the checkpoint restored. Killed before
    the epoch at the lower rate, the resumed fit trains it at that rate, from
    the start's weights, and ends as the whole one."""
    L, R = digit_halves
    path = tmp_path / "fit.pt"
    params = dict(hidden_layer_sizes=(), early_stopping=True, max_iter=16)
    whole = fit(L, R, **params)
    assert whole._history.kept_start and whole._history.annealing
    assert whole.n_iter_ == 12
    revive = killed_at(12, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        fit(L, R, checkpoint_path=path, **params)
    revive()
    resumed = fit(L, R, checkpoint_path=path, **params)
    assert_same_fit(resumed, whole)
    assert resumed.linear_start_ridge_ == whole.linear_start_ridge_


def test_other_data_or_parameters_are_refused(digit_halves, tmp_path):
    L, R = digit_halves
    path = tmp_path / "fit.pt"
    fit(L, R, max_iter=2, checkpoint_path=path)
    with pytest.raises(ValueError, match="other data or other parameters"):
        fit(L, R, max_iter=2, alpha=0.1, checkpoint_path=path)
    changed = L.copy()
    changed[0, 0] += 1.0  # a row the fingerprint reads
    with pytest.raises(ValueError, match="other data or other parameters"):
        fit(changed, R, max_iter=2, checkpoint_path=path)
    # What only changes the output is free: verbose, device names.
    fit(L, R, max_iter=2, verbose=0, checkpoint_path=str(path))


class Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_checkpoint_cannot_run_code_and_a_bad_file_is_named(digit_halves, tmp_path):
    L, R = digit_halves
    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": Payload()}, evil)
    with pytest.raises(
        ValueError, match="cannot be read safely|not a CorrNet checkpoint"
    ):
        fit(L, R, max_iter=2, checkpoint_path=evil)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a CorrNet checkpoint"):
        fit(L, R, max_iter=2, checkpoint_path=garbage)


def test_a_kill_during_the_write_leaves_the_last_checkpoint(
    digit_halves, tmp_path, monkeypatch
):
    L, R = digit_halves
    path = tmp_path / "fit.pt"
    real_save, writes = torch.save, [0]

    def dying_save(obj, f, *args, **kwargs):
        writes[0] += 1
        if writes[0] == 4:
            f.write(b"half a checkpoint")
            raise KeyboardInterrupt("killed while writing")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(skcorrnet._checkpoint.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        fit(L, R, checkpoint_path=path)
    assert torch.load(path, weights_only=True)["epoch"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.pt"]  # no temporary left


def test_a_stream_fed_again_resumes_at_its_first_new_chunk(digit_halves, tmp_path):
    """partial_fit saves after each chunk. A new estimator on the same path,
    fed the stream from its start, skips the chunks the checkpoint trained on
    and ends as the uninterrupted stream does; another stream is refused."""
    L, R = digit_halves
    chunks = np.array_split(np.arange(len(L)), 5)
    settings = dict(
        n_components=4, hidden_layer_sizes=(16,), random_state=0, device="cpu"
    )
    whole, path = CorrNet(**settings), tmp_path / "stream.pt"
    for rows in chunks:
        whole.partial_fit(L[rows], R[rows])
    first = CorrNet(checkpoint_path=path, **settings)
    for rows in chunks[:3]:  # then the process dies
        first.partial_fit(L[rows], R[rows])
    again = CorrNet(checkpoint_path=path, **settings)
    for rows in chunks:
        again.partial_fit(L[rows], R[rows])
    assert_same_fit(again, whole)
    np.testing.assert_array_equal(again.transform(L), whole.transform(L))
    other = CorrNet(checkpoint_path=path, **settings)
    with pytest.raises(ValueError, match="Chunk 0 of this stream differs"):
        other.partial_fit(L[chunks[1]], R[chunks[1]])
    with pytest.raises(ValueError, match="holds a fit, not a partial_fit stream"):
        fitted = tmp_path / "fit.pt"
        fit(L, R, max_iter=1, checkpoint_path=fitted)
        CorrNet(checkpoint_path=fitted, **settings).partial_fit(L, R)


KILLED_FIT = """
import sys, warnings
warnings.simplefilter("ignore")
from sklearn.datasets import load_digits
from skcorrnet import CorrNet
images = load_digits().data.reshape(-1, 8, 8)
CorrNet(n_components=5, max_iter=60, random_state=0, device="cpu",
        checkpoint_path=sys.argv[1]).fit(images[:, :, :4].reshape(-1, 32),
                                          images[:, :, 4:].reshape(-1, 32))
"""


@pytest.mark.slow  # two 60-epoch fits and a process: make test-all runs it
def test_a_process_killed_mid_fit_resumes_bitwise(digit_halves, tmp_path):
    L, R = digit_halves
    path = tmp_path / "fit.pt"
    child = subprocess.Popen([sys.executable, "-c", KILLED_FIT, str(path)])
    deadline = time.time() + 300
    while time.time() < deadline and child.poll() is None:
        if path.exists() and torch.load(path, weights_only=True)["epoch"] >= 5:
            break
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done = torch.load(path, weights_only=True)
    assert not done["finished"], "the fit ended before it could be killed"
    settings = dict(n_components=5, max_iter=60, random_state=0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = CorrNet(checkpoint_path=path, **settings).fit(L, R)
        whole = CorrNet(**settings).fit(L, R)
    assert_same_fit(resumed, whole)
    assert pickle.loads(pickle.dumps(resumed)).n_iter_ == whole.n_iter_
