"""scikit-learn's own API conformance checks, with no expected failures."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skcorrnet import CorrNet

FAST = dict(max_iter=5, hidden_layer_sizes=(8,), random_state=0, device="cpu")


@parametrize_with_checks(
    [
        CorrNet(n_components=1, **FAST),
        CorrNet(n_components=3, canonical=False, activation="tanh", **FAST),
        CorrNet(n_components=2, early_stopping=True, **{**FAST, "hidden_layer_sizes": ()}),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
