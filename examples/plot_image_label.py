"""
Images and their labels: the original CorrNet demo
==================================================

Chandar et al. trained a CorrNet between images and their one-hot labels, then decoded
images from labels alone. Here the image view is the 64 pixels of a digit and the other
view its one-hot label; a second model pairs the left and right halves of the images.
Both reconstruct one view from the other through the shared latent space.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skcorrnet import CorrNet

digits = load_digits()
onehot = np.eye(10)[digits.target]
X_train, X_test, y_train, y_test = train_test_split(
    digits.data, onehot, test_size=0.3, random_state=0
)
image_label = CorrNet(n_components=9, random_state=0).fit(X_train, y_train)

# %%
# Digits decoded from their label alone
# -------------------------------------
# ``predict_x`` reconstructs the first view (the image) from the second (the label).
from_label = image_label.predict_x(np.eye(10))
fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for digit, ax in enumerate(axes):
    ax.imshow(from_label[digit].reshape(8, 8), cmap="gray_r")
    ax.set_title(str(digit))
    ax.axis("off")
fig.suptitle("Images decoded from one-hot labels")
fig.subplots_adjust(top=0.7)
plt.show()

# %%
# The label predicted from an image is the argmax of ``predict``.
accuracy = np.mean(image_label.predict(X_test).argmax(axis=1) == y_test.argmax(axis=1))
print(f"held-out accuracy of the decoded label: {accuracy:.3f}")

# %%
# The right half decoded from the left half
# -----------------------------------------
images = digits.images
left, right = images[:, :, :4].reshape(-1, 32), images[:, :, 4:].reshape(-1, 32)
L_train, L_test, R_train, R_test = train_test_split(
    left, right, test_size=0.3, random_state=0
)
halves = CorrNet(n_components=10, random_state=0).fit(L_train, R_train)
R_pred = halves.predict(L_test)

fig, axes = plt.subplots(2, 8, figsize=(8, 2.6))
for i in range(8):
    true = np.hstack([L_test[i].reshape(8, 4), R_test[i].reshape(8, 4)])
    decoded = np.hstack([L_test[i].reshape(8, 4), R_pred[i].reshape(8, 4)])
    axes[0, i].imshow(true, cmap="gray_r")
    axes[1, i].imshow(decoded, cmap="gray_r")
    for ax in axes[:, i]:
        ax.axis("off")
axes[0, 0].set_title("true", loc="left")
axes[1, 0].set_title("right half decoded from the left", loc="left")
fig.tight_layout()
plt.show()

# %%
# The training loss, term by term
# -------------------------------
# ``loss_terms_`` holds each term of the CorrNet objective per epoch: the reconstruction
# of both views from h(x, y), h(x) and h(y), and the summed correlation of h(x) and h(y),
# which the loss subtracts (times ``correlation_weight``).
fig, (ax_rec, ax_corr) = plt.subplots(1, 2, figsize=(9, 3.2))
for term in ("recon_xy", "recon_x", "recon_y"):
    ax_rec.plot(halves.loss_terms_[term], label=term)
ax_rec.set_title("reconstruction error")
ax_rec.legend()
ax_corr.plot(halves.loss_terms_["correlation"], color="C3")
ax_corr.set_title(f"summed correlation ({halves.n_components} units)")
for ax in (ax_rec, ax_corr):
    ax.set_xlabel("epoch")
fig.tight_layout()
plt.show()
