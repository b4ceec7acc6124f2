"""
Drop-in replacement for CCA
===========================

The same calls fit scikit-learn's :class:`~sklearn.cross_decomposition.CCA` and
:class:`skcorrnet.CorrNet` on two views of scikit-learn's digits: the left and the right
half of each 8x8 image. Both models are scored on a held-out 30% of the images.
"""

# %%
# Two views of the digits
# -----------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skcorrnet import CorrNet
from skcorrnet.metrics import total_correlation

images = load_digits().data.reshape(-1, 8, 8)
left = images[:, :, :4].reshape(-1, 32)
right = images[:, :, 4:].reshape(-1, 32)
L_train, L_test, R_train, R_test = train_test_split(
    left, right, test_size=0.3, random_state=0
)

# %%
# The same code for both models
# -----------------------------
# Only the class changes. ``transform(X, y)`` returns the components of both views,
# ``predict`` reconstructs the right half from the left half, ``score`` is its R².
models = {
    "CCA": CCA(n_components=10, max_iter=1000),
    "CorrNet": CorrNet(n_components=10, random_state=0),
}
components = {}
for name, model in models.items():
    model.fit(L_train, R_train)
    a_train, b_train = model.transform(L_train, R_train)
    a_test, b_test = model.transform(L_test, R_test)
    components[name] = (a_test, b_test)
    print(
        f"{name:8s} held-out total correlation "
        f"{total_correlation(a_train, b_train, a_test, b_test):.2f}, "
        f"R² of predict {model.score(L_test, R_test):.3f}"
    )

# %%
# Canonical correlations, component by component
# ----------------------------------------------
# With ``canonical=True`` (the default) CorrNet's components are ordered canonical
# variates, as CCA's are: component 0 is the most correlated pair.
fig, ax = plt.subplots(figsize=(7, 3.5))
width = 0.4
for shift, (name, (a, b)) in zip((-width / 2, width / 2), components.items()):
    corr = [np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(a.shape[1])]
    ax.bar(np.arange(len(corr)) + shift, corr, width, label=name)
ax.set_xlabel("component")
ax.set_ylabel("held-out correlation")
ax.set_title("Left half vs right half of held-out digits")
ax.legend()
fig.tight_layout()
plt.show()
