"""Malformed input, fuzzed: every public method works with finite output, or
raises ValueError or TypeError with a message. Never a torch error, never NaN.

Each test draws one kind of malformed input (shapes, dtypes, values, sparse),
puts it in one view or both, and calls the methods on it. ``DISTINCT`` counts
the distinct inputs tried (reported by ``test_enough_distinct_inputs_were_tried``).
"""

import hashlib
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skcorrnet import CorrNet

FAST = dict(
    n_components=2, hidden_layer_sizes=(4,), max_iter=2, early_stopping=False,
    random_state=0, device="cpu",
)  # fmt: skip
N, P, Q = 12, 4, 3
DISTINCT = set()


def _fingerprint(value):
    if sp.issparse(value):
        value = value.toarray()
    return hashlib.sha1(repr((type(value).__name__, repr(value))).encode()).hexdigest()


def _good(rows, cols, seed):
    return np.random.RandomState(seed).normal(size=(rows, cols))


@st.composite
def malformed(draw, cols):
    """One malformed view of ``cols`` columns (where a width applies)."""
    kind = draw(st.sampled_from(sorted(BUILDERS)))
    seed = draw(st.integers(0, 2**16))
    return kind, BUILDERS[kind](draw, cols, seed)


def _shape(draw, cols, seed):
    kinds = ["0 rows", "1 row", "0 columns", "3-d", "ragged", "mismatched rows",
             "scalar", "1-d list"]  # fmt: skip
    choice = draw(st.sampled_from(kinds))
    if choice == "0 rows":
        return np.empty((0, cols))
    if choice == "1 row":
        return _good(1, cols, seed)
    if choice == "0 columns":
        return np.empty((N, 0))
    if choice == "3-d":
        return _good(N, cols, seed).reshape(N, cols, 1)
    if choice == "ragged":
        rows = _good(N, cols, seed).tolist()
        rows[draw(st.integers(0, N - 1))].append(1.0)
        return rows
    if choice == "mismatched rows":
        return _good(N + draw(st.integers(1, 5)), cols, seed)
    if choice == "scalar":
        return 3.0
    return [1.0] * N


def _dtype(draw, cols, seed):
    base = _good(N, cols, seed)
    kinds = ["strings", "object mix", "complex", "bool", "nullable int",
             "nullable float", "categorical", "datetime"]  # fmt: skip
    choice = draw(st.sampled_from(kinds))
    if choice == "strings":
        return base.astype(str).astype(object) + "x"
    if choice == "object mix":
        out = base.astype(object)
        out[draw(st.integers(0, N - 1)), 0] = draw(
            st.sampled_from(["a", None, [1], {}])
        )
        return out
    if choice == "complex":
        return base + 1j * base
    if choice == "bool":
        return base > 0
    frame = pd.DataFrame(base, columns=[f"c{j}" for j in range(cols)])
    row = draw(st.integers(0, N - 1))
    if choice == "nullable int":
        frame = frame.round().astype("Int64")
        frame.iloc[row, 0] = pd.NA if draw(st.booleans()) else frame.iloc[row, 0]
    elif choice == "nullable float":
        frame = frame.astype("Float64")
        frame.iloc[row, 0] = pd.NA if draw(st.booleans()) else frame.iloc[row, 0]
    elif choice == "categorical":
        frame["c0"] = pd.Categorical(np.where(base[:, 0] > 0, "up", "down"))
    else:
        frame["c0"] = pd.date_range("2026-01-01", periods=N)
    return frame


def _values(draw, cols, seed):
    base = _good(N, cols, seed)
    choice = draw(st.sampled_from(["nan", "inf", "-inf", "huge", "overflow float32",
                                   "tiny", "constant column", "all constant",
                                   "duplicated rows", "integers"]))  # fmt: skip
    row, col = draw(st.integers(0, N - 1)), draw(st.integers(0, cols - 1))
    if choice in ("nan", "inf", "-inf"):
        base[row, col] = float(choice)
    elif choice == "huge":
        base[:, col] *= draw(st.sampled_from([1e30, 1e200, 1e300]))
    elif choice == "overflow float32":
        base[row, col] = draw(st.sampled_from([3.5e38, 1e39, -1e300]))
    elif choice == "tiny":
        base *= draw(st.sampled_from([1e-30, 1e-300, 5e-324]))
    elif choice == "constant column":
        base[:, col] = draw(st.floats(-1e6, 1e6))
    elif choice == "all constant":
        base[:] = draw(st.floats(-1e6, 1e6))
    elif choice == "duplicated rows":
        base[:] = base[0]
        base[row] = base[0] + 1.0
    else:
        return np.round(base * 10).astype(
            draw(st.sampled_from([np.int8, np.int64, np.uint8]))
        )
    return base


def _sparse(draw, cols, seed):
    dense = _good(N, cols, seed) * (np.random.RandomState(seed).rand(N, cols) > 0.5)
    matrix = sp.csr_matrix(dense)
    choice = draw(st.sampled_from(["nan", "inf", "coo", "empty", "0 columns"]))
    if choice in ("nan", "inf"):
        matrix.data[: max(1, matrix.nnz // 2)] = float(choice)
        matrix = (
            matrix if matrix.nnz else sp.csr_matrix(np.full((N, cols), float(choice)))
        )
    elif choice == "coo":
        matrix = matrix.tocoo()
    elif choice == "empty":
        matrix = sp.csr_matrix((N, cols))
    else:
        matrix = sp.csr_matrix((N, 0))
    return matrix


BUILDERS = {"shape": _shape, "dtype": _dtype, "values": _values, "sparse": _sparse}


def _finite(result):
    arrays = result if isinstance(result, tuple) else (result,)
    return all(np.all(np.isfinite(np.asarray(a, dtype=np.float64))) for a in arrays)


def _outcome(call):
    """Run ``call``: it must return finite values or raise a clear error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call()
    except (ValueError, TypeError) as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return None
    return result


@pytest.fixture(scope="module")
def trained():
    return CorrNet(**FAST).fit(_good(40, P, 1), _good(40, Q, 2))


@settings(max_examples=130, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["x", "y", "both"]), malformed(P), malformed(Q),
       st.sampled_from(["fit", "partial_fit"]))  # fmt: skip
def test_fitting_malformed_views(where, bad_x, bad_y, method):
    X = bad_x[1] if where in ("x", "both") else _good(N, P, 3)
    Y = bad_y[1] if where in ("y", "both") else _good(N, Q, 4)
    DISTINCT.add((method, where, _fingerprint(X), _fingerprint(Y)))
    model = CorrNet(**FAST)
    fitted = _outcome(lambda: getattr(model, method)(X, Y))
    if fitted is not None:  # accepted: it trained to finite numbers
        assert np.all(np.isfinite(model.loss_curve_))
        embedded = _outcome(lambda: model.transform(X, Y))
        assert embedded is None or _finite(embedded)


INFERENCE = {
    "transform": lambda m, a, b, z: m.transform(a),
    "transform both": lambda m, a, b, z: m.transform(a, b),
    "transform_y": lambda m, a, b, z: m.transform_y(b),
    "predict": lambda m, a, b, z: m.predict(a),
    "predict_x": lambda m, a, b, z: m.predict_x(b),
    "inverse_transform": lambda m, a, b, z: m.inverse_transform(z),
    "inverse_transform both": lambda m, a, b, z: m.inverse_transform(z, z),
    "score": lambda m, a, b, z: m.score(a, b),
}


@settings(
    max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)  # fmt: skip
@given(st.sampled_from(sorted(INFERENCE)), malformed(P), malformed(Q), malformed(2))
def test_inference_on_malformed_views(trained, method, bad_x, bad_y, bad_z):
    DISTINCT.add((method, *(_fingerprint(v[1]) for v in (bad_x, bad_y, bad_z))))
    result = _outcome(lambda: INFERENCE[method](trained, bad_x[1], bad_y[1], bad_z[1]))
    assert result is None or _finite(result)


def test_enough_distinct_inputs_were_tried(capsys):
    if not DISTINCT:
        pytest.skip("run with the fuzz tests above")
    with capsys.disabled():
        print(f"\nfuzz: {len(DISTINCT)} distinct malformed calls tried")
    assert len(DISTINCT) >= 200


def test_values_float32_cannot_hold_are_named():
    X, Y = _good(N, P, 5), _good(N, Q, 6)
    X[3, 1] = 1e39
    with pytest.raises(ValueError, match=r"X has values beyond float32's range.*row 3"):
        CorrNet(**FAST).fit(X, Y)
    Y[:, 0] *= 1e200
    with pytest.raises(ValueError, match="y has values beyond float32's range"):
        CorrNet(**FAST).fit(_good(N, P, 5), Y)


def test_an_overflowing_score_is_an_error_not_nan(trained):
    y = _good(N, Q, 7)
    y[0, 0] = 1e300
    with pytest.raises(ValueError, match="R² is not finite"):
        trained.score(_good(N, P, 8), y)
