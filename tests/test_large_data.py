"""Inputs beyond in-memory dense arrays: memmaps, row-sliceable arrays, sparse."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import peak_memory_growth

import skcorrnet._training
from skcorrnet import CorrNet
from skcorrnet.metrics import total_correlation

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

FAST = dict(
    n_components=3,
    hidden_layer_sizes=(16,),
    max_iter=5,
    early_stopping=False,
    random_state=0,
    device="cpu",
)


class RowSliced:
    """An h5py-like dataset: shape, dtype, and reads by slice or sorted indices.

    Records every read, refuses unsorted indices (as h5py does) and is not a
    numpy array, so nothing can convert it wholesale.
    """

    def __init__(self, array):
        self._array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.reads, self.starts = [], []

    def __getitem__(self, key):
        if isinstance(key, slice):
            self.reads.append(("slice", key.stop - key.start))
            self.starts.append(key.start)
            return self._array[key].copy()
        key = np.asarray(key)
        if np.any(np.diff(key) <= 0):
            raise TypeError("Indexing elements must be in increasing order")
        self.reads.append(("index", len(key)))
        return self._array[key]

    def __len__(self):
        return self.shape[0]


def memmaps(tmp_path, *arrays):
    out = []
    for i, array in enumerate(arrays):
        path = tmp_path / f"view{i}.npy"
        np.save(path, array)
        out.append(np.load(path, mmap_mode="r"))
    return out


# --------------------------------------------------------------- streamed input


def test_memmap_trains_like_the_array_it_holds(views, tmp_path):
    X, Y = (a.astype(np.float32) for a in views)
    in_memory = CorrNet(**FAST).fit(X, Y)
    mapped = CorrNet(**FAST).fit(*memmaps(tmp_path, X, Y))
    # Small data fit in one buffer: the same shuffles, the same model.
    np.testing.assert_array_equal(in_memory.transform(X), mapped.transform(X))
    assert mapped.transform(memmaps(tmp_path, X)[0]).dtype == np.float32


def test_streamed_epochs_read_shuffled_contiguous_blocks(digit_halves, monkeypatch):
    L, R = (a.astype(np.float32) for a in digit_halves)
    # Buffers of 256 rows (256 bytes each): 16 blocks of 16 contiguous rows.
    monkeypatch.setattr(skcorrnet._training, "_BUFFER_BYTES", 256 * 256)
    X, Y = RowSliced(L), RowSliced(R)
    model = CorrNet(
        n_components=5, max_iter=1, early_stopping=False, random_state=0, device="cpu"
    )
    model.fit(X, Y)
    kinds = {kind for kind, _ in X.reads}
    assert kinds == {"slice"}  # sequential reads only, no fancy indexing
    epoch = [n for _, n in X.reads if n <= 16]
    assert sum(epoch) == len(L)  # the epoch read every row exactly once
    starts = [s for s, (_, n) in zip(X.starts, X.reads) if n <= 16]
    assert sorted(starts) == list(range(0, len(L), 16))
    assert starts != sorted(starts)  # blocks come in a shuffled order
    assert max(n for _, n in X.reads) <= 4096  # scan and canonical passes: blocks


def test_small_buffers_train_as_well_as_in_memory(digit_halves, monkeypatch):
    L, R = digit_halves
    train, test = slice(0, 1400), slice(1400, None)
    params = dict(n_components=8, max_iter=8, random_state=0, device="cpu")

    def held_out(model, A, B):
        return total_correlation(
            *model.transform(A[train], B[train]), *model.transform(L[test], R[test])
        )

    reference = held_out(CorrNet(**params).fit(L[train], R[train]), L, R)
    monkeypatch.setattr(skcorrnet._training, "_BUFFER_BYTES", 200 * 64 * 8)
    X, Y = RowSliced(L[train]), RowSliced(R[train])
    streamed = CorrNet(**params).fit(X, Y)
    assert held_out(streamed, L, R) > 0.95 * reference


def test_streamed_input_is_never_copied_whole(tmp_path, monkeypatch):
    """Memmapped views eight times longer cost only a small part of their extra
    bytes in memory (torch's allocations counted, the mapped pages not): fit
    and transform read blocks and buffers, never the whole views."""
    monkeypatch.setattr(skcorrnet._training, "_BUFFER_BYTES", 2 * 2**20)
    rng = np.random.RandomState(0)

    def growth(n_rows, repeats=2):
        """The least peak growth of ``repeats`` fits (sampled peaks only err
        upwards, when other threads allocate), and the memmaps' bytes."""
        shared = rng.normal(size=(n_rows, 4))
        (tmp_path / str(n_rows)).mkdir()
        X_map, Y_map = memmaps(
            tmp_path / str(n_rows),
            shared @ rng.normal(size=(4, 100)),
            shared @ rng.normal(size=(4, 100)),
        )
        model = CorrNet(
            n_components=4, hidden_layer_sizes=(16,), max_iter=1, batch_size=1024,
            early_stopping=True, random_state=0, device="cpu",
        )  # fmt: skip
        peaks = [
            peak_memory_growth(lambda: model.fit(X_map, Y_map).transform(X_map))
            for _ in range(repeats)
        ]
        return min(peaks), X_map.nbytes + Y_map.nbytes

    growth(2_000, repeats=1)  # torch's first-call allocations, not used
    (small, small_bytes), (large, large_bytes) = growth(8_000), growth(64_000)
    # The views are float64: a float32 copy of one of them would add a quarter
    # of the extra bytes; the n x 4 output of transform and row indices add
    # about 5%, and sampling the peak up to about 10 MiB.
    assert large - small < 0.2 * (large_bytes - small_bytes), (small, large)


def test_row_sliceable_integer_views(digit_halves):
    L, R = (a.astype(np.uint8) for a in digit_halves)
    model = CorrNet(n_components=5, max_iter=3, random_state=0, device="cpu")
    model.fit(RowSliced(L), RowSliced(R))
    assert model.n_features_in_ == 32 and model.n_targets_ == 32
    z = model.transform(RowSliced(L))
    np.testing.assert_allclose(z, model.transform(L.astype(np.float64)))
    assert z.dtype == np.float64  # integers are computed in float64, as by sklearn
    assert model.predict(RowSliced(L)).dtype == np.float64
    with pytest.raises(
        ValueError, match="X has 10 features, but CorrNet is expecting 32"
    ):
        model.transform(RowSliced(L[:, :10]))


def test_early_stopping_reads_held_out_rows_by_sorted_index(digit_halves):
    L, R = digit_halves
    X, Y = RowSliced(L), RowSliced(R)  # refuses unsorted indices
    model = CorrNet(
        n_components=5, max_iter=4, early_stopping=True, random_state=0, device="cpu"
    ).fit(X, Y)
    assert len(model.validation_scores_) == 4
    held_out = [n for kind, n in X.reads if kind == "index" and n == 180]
    # 10% of 1797 rows: each start (init="auto" trains from two), then each epoch
    assert len(held_out) == 2 * (1 + 4)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_streamed_nan_or_inf_named_with_its_row(views, tmp_path, bad):
    X, Y = views
    X = X.copy()
    X[123, 2] = bad
    X_map, Y_map = memmaps(tmp_path, X, Y)
    kind = "NaN" if np.isnan(bad) else "infinity"
    with pytest.raises(ValueError, match=rf"Input X contains {kind} \(row 123\)"):
        CorrNet(**FAST).fit(X_map, Y_map)
    model = CorrNet(**FAST).fit(*views)
    with pytest.raises(
        ValueError, match=r"Input X contains NaN or infinity \(row 123\)"
    ):
        model.transform(X_map)


def test_streamed_missing_views(views, tmp_path):
    X, Y = (a.copy() for a in views)
    X[:100] = np.nan  # y-only rows
    in_memory = CorrNet(**FAST, allow_missing_views=True).fit(X, Y)
    mapped = CorrNet(**FAST, allow_missing_views=True).fit(*memmaps(tmp_path, X, Y))
    np.testing.assert_allclose(in_memory.x_mean_, np.nanmean(X, axis=0))
    np.testing.assert_array_equal(
        in_memory.transform(X[100:]), mapped.transform(X[100:])
    )
    X[5, 0] = 1.0  # partly missing
    with pytest.raises(ValueError, match=r"X is partly NaN in rows \[5\]"):
        CorrNet(**FAST, allow_missing_views=True).fit(*memmaps(tmp_path, X, Y))


def test_staged_tensors_train_like_host_arrays(views, monkeypatch):
    # On a GPU the data are copied there once and batches are gathered from
    # the copy; on the CPU, stand the same path in with CPU tensors.
    X, Y = (a.astype(np.float32) for a in views)
    host = CorrNet(**{**FAST, "early_stopping": True}).fit(X, Y)
    monkeypatch.setattr(
        skcorrnet._training, "stage_on_device", lambda A, device: torch.from_numpy(A)
    )
    staged = CorrNet(**{**FAST, "early_stopping": True}).fit(X, Y)
    np.testing.assert_array_equal(host.transform(X), staged.transform(X))
    assert host.validation_scores_ == staged.validation_scores_


# ----------------------------------------------------------------- sparse input


def test_sparse_view_is_scaled_not_centred(views):
    X, Y = views
    model = CorrNet(**FAST).fit(sp.csr_matrix(X), Y)
    np.testing.assert_array_equal(model.x_mean_, 0.0)
    np.testing.assert_allclose(model.x_std_, X.std(axis=0, ddof=1))
    np.testing.assert_allclose(model.y_mean_, Y.mean(axis=0))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_matches_dense_when_centring_is_a_no_op(views, fmt):
    X, Y = views
    X = X - X.mean(axis=0)  # centred columns: dense and sparse models agree
    dense = CorrNet(**FAST).fit(X, Y)
    sparse = CorrNet(**FAST).fit(sp.csr_matrix(X).asformat(fmt), Y)
    # float32 training: the sparse and dense first layers round differently,
    # and the difference grows a little over the epochs.
    np.testing.assert_allclose(
        sparse.transform(sp.csr_matrix(X)), dense.transform(X), atol=5e-4
    )
    np.testing.assert_allclose(
        sparse.predict(sp.csr_matrix(X)), dense.predict(X), atol=5e-4
    )
    # A sparse y view too: predict_x and transform_y accept it.
    both = CorrNet(**FAST).fit(sp.csr_matrix(X), sp.csr_matrix(Y - Y.mean(axis=0)))
    assert both.predict_x(sp.csr_matrix(Y)).shape == X.shape


def test_sparse_first_layer_multiplies_sparsely(views, monkeypatch):
    X, Y = views
    seen = []
    original = torch.nn.Linear.forward

    def spy(layer, inputs):
        seen.append(inputs.layout)
        return original(layer, inputs)

    monkeypatch.setattr(torch.nn.Linear, "forward", spy)
    CorrNet(**FAST).fit(sp.csr_matrix(X), Y)
    assert torch.sparse_csr in seen


@pytest.mark.slow  # 15-30 s on 2 cores: make test-all runs it
def test_sparse_input_is_never_densified_whole():
    rng = np.random.RandomState(0)
    X = sp.random(20_000, 5_000, density=0.002, format="csr", random_state=rng)
    Y = rng.normal(size=(20_000, 3))
    model = CorrNet(
        n_components=2, hidden_layer_sizes=(), max_iter=1, random_state=0, device="cpu"
    )
    peak = peak_memory_growth(lambda: model.fit(X, Y))
    dense_bytes = 20_000 * 5_000 * 8  # 800 MB
    assert peak < 0.1 * dense_bytes


def test_sparse_missing_views_are_refused(views):
    X, Y = views
    Xs = sp.csr_matrix(X)
    Xs.data[0] = np.nan
    with pytest.raises(ValueError, match="X is sparse and contains NaN"):
        CorrNet(**FAST, allow_missing_views=True).fit(Xs, Y)
    with pytest.raises(ValueError, match="NaN"):
        CorrNet(**FAST).fit(Xs, Y)
