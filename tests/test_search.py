"""CrossModalNeighbors and its block search against brute force."""

import warnings

import numpy as np
import pytest
from conftest import two_views
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skcorrnet import CorrNet, CrossModalNeighbors
from skcorrnet._search import top_k
from skcorrnet.metrics import recall_at_k


def brute_force(Q, C, k, metric):
    """Every distance at once, then a full sort by (distance, index)."""
    Q, C = np.asarray(Q, dtype=np.float64), np.asarray(C, dtype=np.float64)
    if metric == "cosine":
        unit = [M / np.where(n > 0, n, 1.0) for M, n in
                ((Q, np.linalg.norm(Q, axis=1, keepdims=True)),
                 (C, np.linalg.norm(C, axis=1, keepdims=True)))]  # fmt: skip
        D = 1.0 - unit[0] @ unit[1].T
    else:
        D = np.sqrt(((Q[:, None, :] - C[None, :, :]) ** 2).sum(-1))
    index = np.broadcast_to(np.arange(len(C)), D.shape)
    order = np.lexsort((index, D), axis=1)[:, :k]
    return np.take_along_axis(D, order, 1), order


@st.composite
def tied_search(draw):
    """Queries and a catalogue of small integer vectors: many exact ties,
    duplicated items, zero rows; k up to the catalogue size; tiny blocks."""
    n_items = draw(st.integers(1, 40))
    width = draw(st.integers(1, 4))
    entries = st.lists(st.integers(-1, 1), min_size=width, max_size=width)
    C = np.array(draw(st.lists(entries, min_size=n_items, max_size=n_items)), float)
    Q = np.array(draw(st.lists(entries, min_size=1, max_size=12)), float)
    k = draw(st.integers(1, n_items))
    memory = draw(st.sampled_from([None, 1e-5, 2e-4]))  # 1 to ~800 distances
    return Q, C, k, memory


@settings(max_examples=150, deadline=None)
@given(tied_search(), st.sampled_from(["cosine", "euclidean"]))
def test_block_search_is_the_brute_force_order_ties_included(case, metric):
    Q, C, k, memory = case
    distances, indices = top_k(Q, C, k, metric, working_memory=memory)
    want_d, want_i = brute_force(Q, C, k, metric)
    np.testing.assert_array_equal(indices, want_i)
    np.testing.assert_allclose(distances, want_d, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def model_and_views():
    X, Y = two_views(n_samples=400, p=6, q=5, seed=3)
    model = CorrNet(
        n_components=3, hidden_layer_sizes=(16,), max_iter=10, early_stopping=False,
        random_state=0, device="cpu",
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 10 epochs suffice
        model.fit(X[:300], Y[:300])
    return model, X[300:], Y[300:]


@pytest.mark.parametrize("catalogue_view", ["y", "x"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_kneighbors_searches_the_model_space_in_both_directions(
    model_and_views, catalogue_view, metric
):
    model, X, Y = model_and_views
    catalogue, queries = (Y, X) if catalogue_view == "y" else (X, Y)
    search = CrossModalNeighbors(
        model, n_neighbors=7, catalogue_view=catalogue_view, metric=metric,
        working_memory=1,
    ).fit(catalogue)  # fmt: skip
    embed = {"x": model.transform, "y": model.transform_y}
    other = "x" if catalogue_view == "y" else "y"
    want_d, want_i = brute_force(
        embed[other](queries), embed[catalogue_view](catalogue), 7, metric
    )
    distances, indices = search.kneighbors(queries)
    np.testing.assert_array_equal(indices, want_i)
    np.testing.assert_allclose(distances, want_d, atol=1e-12)
    np.testing.assert_array_equal(search.kneighbors(queries, 2, False), want_i[:, :2])
    assert search.n_items_ == len(catalogue)


def test_a_memmap_catalogue_gives_the_in_memory_answer(model_and_views, tmp_path):
    model, X, Y = model_and_views
    path = tmp_path / "catalogue.npy"
    np.save(path, Y)
    on_disk = CrossModalNeighbors(model, n_neighbors=5)
    on_disk.fit(np.load(path, mmap_mode="r"))
    in_memory = CrossModalNeighbors(model, n_neighbors=5).fit(Y)
    for a, b in zip(on_disk.kneighbors(X), in_memory.kneighbors(X)):
        np.testing.assert_array_equal(a, b)


def test_hits_match_recall_at_k_and_ties_count_only_in_the_metric(model_and_views):
    model, X, Y = model_and_views
    search = CrossModalNeighbors(model, n_neighbors=5).fit(Y)
    indices = search.kneighbors(X, return_distance=False)
    hits = (indices == np.arange(len(X))[:, None]).any(axis=1).mean()
    assert hits == recall_at_k(model.transform(X), model.transform_y(Y), k=5)
    # Every item the same: the search returns the lowest indices, which hit
    # query 0; the metric counts every tie against the true item.
    flat = np.ones((6, 3))
    _, tied = top_k(flat, flat, 2)
    np.testing.assert_array_equal(tied, np.tile([0, 1], (6, 1)))
    assert recall_at_k(flat, flat, k=2) == 0.0


def test_bad_calls_are_clear_errors(model_and_views):
    model, X, Y = model_and_views
    with pytest.raises(NotFittedError):
        CrossModalNeighbors(CorrNet()).fit(Y)
    search = CrossModalNeighbors(model).fit(Y[:4])
    with pytest.raises(ValueError, match="exceeds the catalogue's 4 items"):
        search.kneighbors(X, n_neighbors=5)
    with pytest.raises(ValueError, match="positive integer"):
        search.kneighbors(X, n_neighbors=0)
    with pytest.raises(ValueError, match="features"):
        search.kneighbors(Y, n_neighbors=2)  # y-view rows where X queries belong
    with pytest.raises(ValueError, match="catalogue_view"):
        CrossModalNeighbors(model, catalogue_view="z").fit(Y)
    with pytest.raises(NotFittedError):
        CrossModalNeighbors(model).kneighbors(X)
