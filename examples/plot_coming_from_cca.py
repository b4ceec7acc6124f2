"""
Coming from CCA: before and after
=================================

A script written for scikit-learn's :class:`~sklearn.cross_decomposition.CCA`, and
the same script for :class:`skcorrnet.CorrNet`. The "Coming from CCA" page lists every
attribute and method; this example runs the ones old code uses most, on the left and
right halves of scikit-learn's digits.
"""

# %%
# Before: CCA
# -----------
import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skcorrnet import CorrNet
from skcorrnet.metrics import total_correlation

images = load_digits().data.reshape(-1, 8, 8)
left = images[:, :, :4].reshape(-1, 32)
right = images[:, :, 4:].reshape(-1, 32)
X_train, X_test, Y_train, Y_test = train_test_split(
    left, right, test_size=0.3, random_state=0
)


def report(name, model):
    """Held-out total correlation of the components, and R² of ``predict``."""
    a_train, b_train = model.transform(X_train, Y_train)
    a_test, b_test = model.transform(X_test, Y_test)
    total = total_correlation(a_train, b_train, a_test, b_test)
    print(
        f"{name:8s} held-out total correlation {total:.3f}, "
        f"R² of predict {model.score(X_test, Y_test):.3f}"
    )


cca = CCA(n_components=5, max_iter=1000).fit(X_train, Y_train)
x_scores, y_scores = cca.transform(X_train, Y_train)  # was cca.x_scores_, cca.y_scores_
report("CCA", cca)

# %%
# After: CorrNet
# --------------
# The calls are the same. Two lines change: the class, and ``fit_transform``, which
# returns the components of X only (as every scikit-learn transformer does), so the pair
# comes from ``transform(X, y)``.
model = CorrNet(n_components=5, random_state=0).fit(X_train, Y_train)
x_scores, y_scores = model.transform(X_train, Y_train)
report("CorrNet", model)
print("canonical, ordered:", np.round(model.canonical_correlations_, 3))
print("feature names:", model.get_feature_names_out())
print(
    "y from X:", model.predict(X_test).shape, "X from y:", model.predict_x(Y_test).shape
)

# %%
# Weight matrices, in the linear setting
# --------------------------------------
# The default model is nonlinear, so it has no ``x_rotations_`` or ``coef_``. With
# ``hidden_layer_sizes=()`` the map is affine, and the matrices follow from
# ``transform`` and ``predict`` applied to the identity.
linear = CorrNet(n_components=5, hidden_layer_sizes=(), random_state=0).fit(
    X_train, Y_train
)
p = X_train.shape[1]
origin = linear.transform(np.zeros((1, p)))
x_rotations = linear.transform(np.eye(p)) - origin  # (p, n_components), original units
coef = (
    linear.predict(np.eye(p)) - linear.predict(np.zeros((1, p)))
).T  # like CCA.coef_
intercept = linear.predict(np.zeros((1, p)))[0]  # like CCA.intercept_
print(
    "x_rotations", x_rotations.shape, "coef", coef.shape, "intercept", intercept.shape
)
print(
    "transform == X @ x_rotations + origin, to",
    float(np.abs(X_test @ x_rotations + origin - linear.transform(X_test)).max()),
)
print(
    "predict == X @ coef.T + intercept, to",
    float(np.abs(X_test @ coef.T + intercept - linear.predict(X_test)).max()),
)
