"""scikit-learn's own API conformance checks.

The instances train (``early_stopping=False``, or ``True``); the defaults
instance fits the checks' small data sets as their closed-form linear start
(``early_stopping="auto"`` holds out no rows from fewer than 300), so its
``n_iter_`` is 0, which two checks refuse by design.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skcorrnet import CorrNet

FAST = dict(
    max_iter=2,
    hidden_layer_sizes=(8,),
    early_stopping=False,
    random_state=0,
    device="cpu",
)
DEFAULTS_N_ITER = "too few rows to validate training: the linear start, n_iter_=0"


@parametrize_with_checks(
    [
        CorrNet(n_components=1, **FAST),
        CorrNet(n_components=3, canonical=False, activation="tanh", **FAST),
        CorrNet(n_components=2, **{**FAST, "early_stopping": True, "hidden_layer_sizes": ()}),
        CorrNet(n_components=2, random_state=0, device="cpu"),
    ],
    expected_failed_checks=lambda est: (
        {
            "check_transformer_n_iter": DEFAULTS_N_ITER,
            "check_non_transformer_estimators_n_iter": DEFAULTS_N_ITER,
        }
        if est.early_stopping == "auto"
        else {}
    ),
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
