"""The CUDA paths, on a real GPU: skipped on machines without one.

Each test runs the same fit or method on the GPU and on the CPU (or through a
second GPU path) and compares the numbers: the data paths differ (arrays
copied to the GPU once and gathered there; memmap blocks pinned and copied one
at a time; sparse CSR blocks multiplied on the GPU), the model must not.
"""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from test_large_data import memmaps

from skcorrnet import CorrNet
from skcorrnet._data import stage_on_device, to_tensor

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

SMALL = dict(n_components=3, hidden_layer_sizes=(16,), max_iter=4, random_state=0)


def test_auto_device_trains_on_the_gpu(views):
    model = CorrNet(**SMALL).fit(*views)
    assert model.device_.startswith("cuda")
    assert next(model.module_.parameters()).is_cuda
    out = model.transform(views[0])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64


def test_cuda_fit_matches_cpu_fit(digit_halves):
    L, R = (a.astype(np.float32) for a in digit_halves)
    params = dict(n_components=5, max_iter=10, random_state=0)
    cpu = CorrNet(device="cpu", **params).fit(L, R)
    gpu = CorrNet(device="cuda", **params).fit(L, R)
    assert gpu.device_.startswith("cuda")
    # Same start (closed-form ridge CCA), same batches; the kernels differ.
    assert abs(gpu.score(L, R) - cpu.score(L, R)) < 0.05
    np.testing.assert_allclose(gpu.x_mean_, cpu.x_mean_, rtol=1e-6)


def test_pinned_blocks_match_the_staged_copy(views, tmp_path):
    # In memory, a view is copied to the GPU once and batches are gathered
    # there; a memmap is read block by block, pinned and copied: same model.
    X, Y = (a.astype(np.float32) for a in views)
    assert stage_on_device(X, torch.device("cuda")).is_cuda
    staged = CorrNet(device="cuda", **SMALL).fit(X, Y)
    pinned = CorrNet(device="cuda", **SMALL).fit(*memmaps(tmp_path, X, Y))
    np.testing.assert_allclose(pinned.transform(X), staged.transform(X), atol=1e-5)


def test_to_tensor_on_the_gpu_equals_the_cpu_result(views):
    X = views[0][:50]
    stats = [
        (
            torch.tensor(X.mean(0), device=d),
            torch.tensor(X.std(0), device=d),
            torch.full((X.shape[1],), 1.5, dtype=torch.float64, device=d),
        )
        for d in ("cpu", "cuda")
    ]
    cpu, gpu = to_tensor(X, stats[0]), to_tensor(X, stats[1])
    assert gpu.is_cuda and gpu.dtype == torch.float64
    np.testing.assert_array_equal(gpu.cpu().numpy(), cpu.numpy())
    assert np.abs(cpu.numpy()).max() <= 1.5


def test_sparse_csr_on_the_gpu_matches_the_cpu(views):
    X, Y = views
    X = sp.random(len(X), 40, density=0.05, format="csr", random_state=0) * 3.0
    cpu = CorrNet(device="cpu", **SMALL).fit(X, Y)
    gpu = CorrNet(device="cuda", **SMALL).fit(X, Y)
    np.testing.assert_allclose(gpu.x_std_, cpu.x_std_, rtol=1e-6)
    assert gpu.transform(X).shape == (X.shape[0], 3)
    np.testing.assert_allclose(gpu.transform(X), cpu.transform(X), atol=0.05)
    np.testing.assert_allclose(gpu.predict_x(Y), cpu.predict_x(Y), atol=0.05)


def test_gpu_model_pickles_and_predicts_the_same(views):
    X, Y = views
    model = CorrNet(device="cuda", early_stopping=False, **SMALL).fit(X, Y)
    loaded = pickle.loads(pickle.dumps(model))
    assert loaded.device_ == model.device_
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    Z = model.transform(X)
    np.testing.assert_array_equal(loaded.inverse_transform(Z), model.inverse_transform(Z))
    loaded.partial_fit(X, Y)  # the optimiser state came back on the GPU too
    assert loaded.n_iter_ == model.n_iter_ + 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_outputs_keep_the_input_dtype(views, dtype):
    X, Y = (a.astype(dtype) for a in views)
    model = CorrNet(device="cuda", **SMALL).fit(X, Y)
    assert model.transform(X).dtype == dtype
    assert model.predict(X).dtype == dtype
    assert np.isfinite(model.transform(X)).all()
