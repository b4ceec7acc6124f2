"""
Cross-modal retrieval: search a catalogue, and recall@K
=======================================================

Query with one view, search the other: each held-out left half of a digit looks for its
own right half among the 540 held-out right halves. :class:`skcorrnet.CrossModalNeighbors`
embeds the catalogue once and answers queries in memory-bounded blocks, as
:class:`~sklearn.neighbors.NearestNeighbors` does within one space. ``ranking_weight``
adds an in-batch ranking term (symmetric InfoNCE) to the CorrNet loss, and early
stopping then scores retrieval on the held-out rows.
"""

# %%
# Search a catalogue
# ------------------
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skcorrnet import CorrNet, CrossModalNeighbors

digits = load_digits()
images = digits.data.reshape(-1, 8, 8)
left = images[:, :, :4].reshape(-1, 32)
right = images[:, :, 4:].reshape(-1, 32)
L_train, L_test, R_train, R_test = train_test_split(
    left, right, test_size=0.3, random_state=0, stratify=digits.target
)
model = CorrNet(n_components=10, ranking_weight=1, random_state=0).fit(L_train, R_train)

catalogue = CrossModalNeighbors(model, n_neighbors=5).fit(R_test)  # right halves
distances, found = catalogue.kneighbors(L_test[:3])  # left halves as queries
print("nearest right halves of the first 3 left halves:\n", found)
print("their cosine distances:\n", distances.round(3))

fig, axes = plt.subplots(3, 6, figsize=(7, 3.6))
for row, query in enumerate(range(3)):
    whole = np.hstack([L_test[query].reshape(8, 4), R_test[query].reshape(8, 4)])
    axes[row, 0].imshow(whole, cmap="gray_r")
    for col, item in enumerate(found[row], start=1):
        pair = np.hstack([L_test[query].reshape(8, 4), R_test[item].reshape(8, 4)])
        axes[row, col].imshow(pair, cmap="gray_r")
        axes[row, col].set_title("match" if item == query else "", fontsize=8)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
axes[0, 0].set_title("truth", fontsize=8)
fig.suptitle("Each query's left half beside its 5 nearest right halves")
fig.tight_layout()
plt.show()

# %%
# Recall@K against the peers
# --------------------------
# One split is a noisy measurement, so the curves below are the means over 5 splits
# measured by ``benchmarks/ranking.py``: sklearn's CCA, a ridge CCA with its ridge
# chosen by cross-validation, cca-zoo's Deep CCA, a CLIP-style two-tower model written
# in the benchmark (same widths, epochs and batch), ``CorrNet()`` and
# ``CorrNet(ranking_weight=1)``.
results = Path("../benchmarks/results/ranking.json")
if not results.exists():  # run from the repository root
    results = Path("benchmarks/results/ranking.json")
measured = json.loads(results.read_text())
halves = [r for r in measured["runs"] if r["task"] == "halves"]
ks = [1, 2, 5, 10, 20, 50]
fig, ax = plt.subplots(figsize=(6.5, 4))
for name in dict.fromkeys(r["model"] for r in halves):
    curve = np.mean([r["curve"] for r in halves if r["model"] == name], axis=0)
    ax.plot(ks, curve, marker="o", label=name)
    print(f"{name:28s} recall@1 {curve[0]:.3f}  recall@10 {curve[3]:.3f}")
ax.set_xscale("log")
ax.set_xlabel("K (of 540 candidates)")
ax.set_ylabel("recall@K, left half → right half")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
