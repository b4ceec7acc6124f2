"""CorrNet vs CCA on scikit-learn's digits: the main demo (``make demo``).

Two tasks, each on a held-out 30% of the 1,797 digits:

* left half vs right half of each 8x8 image (32 vs 32 pixels);
* whole image vs one-hot label (64 pixels vs 10 classes), the original CorrNet
  demo.

For each model: held-out total canonical correlation (Deep-CCA protocol),
summed correlation of the model's own components (CorrNet paper protocol),
R^2 of cross-view prediction, and fit time; for the halves, retrieval recall@1/5
(query with a left half, rank the 540 test right halves); for the labels, the
accuracy of the predicted label (instance retrieval is meaningless there: about
54 test rows share each label). A PNG shows digits
reconstructed from their other half and from their label.

Run: python examples/demo_digits.py [--output DIR]
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.cross_decomposition import CCA
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skcorrnet import CorrNet
from skcorrnet.metrics import recall_at_k, sum_of_correlations, total_correlation

N_COMPONENTS = 9  # the label view's one-hot code has rank 9 (its columns sum to 1)


def evaluate(name, model, X_train, Y_train, X_test, Y_test, labels=False):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # CCA's and CorrNet's convergence notes
        model.fit(X_train, Y_train)
    fit_time = time.perf_counter() - start
    a_train, b_train = model.transform(X_train, Y_train)
    a_test, b_test = model.transform(X_test, Y_test)
    row = {
        "model": name,
        "total_corr": total_correlation(a_train, b_train, a_test, b_test),
        "sum_corr": sum_of_correlations(a_test, b_test),
        "r2": model.score(X_test, Y_test),
    }
    if labels:
        predicted = model.predict(X_test).argmax(axis=1)
        row["accuracy"] = np.mean(predicted == Y_test.argmax(axis=1))
    else:
        row["recall@1"] = recall_at_k(a_test, b_test, k=1)
        row["recall@5"] = recall_at_k(a_test, b_test, k=5)
    row["fit_s"] = fit_time
    return row


def print_table(title, rows):
    print(f"\n{title}")
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [row["model"]] + [f"{row[key]:.3f}" for key in header[1:]]
        print("| " + " | ".join(cells) + " |")


def save_reconstructions(path, images, halves_models, label_model, labels):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = np.array([np.flatnonzero(labels == d)[0] for d in range(10)])
    left, right = images[shown, :, :4], images[shown, :, 4:]
    rows = [("original", images[shown])]
    for name, model in halves_models:
        right_flat = right.reshape(len(shown), -1)
        if isinstance(model, CCA):  # CCA has no predict_x: decode y's components
            left_rec = model.inverse_transform(model.transform(left.reshape(len(shown), -1), right_flat)[1])
        else:
            left_rec = model.predict_x(right_flat)
        stitched = np.concatenate([left_rec.reshape(-1, 8, 4), right], axis=2)
        rows.append((f"{name}:\nleft from right", stitched))
    one_hot = np.eye(10)[labels[shown]]
    rows.append(("CorrNet:\nimage from label", label_model.predict_x(one_hot).reshape(-1, 8, 8)))

    fig, axes = plt.subplots(len(rows), 10, figsize=(10, 1.25 * len(rows)))
    for r, (title, imgs) in enumerate(rows):
        for c in range(10):
            ax = axes[r, c]
            ax.imshow(np.clip(imgs[c], 0, 16), cmap="gray_r", vmin=0, vmax=16)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("Digits reconstructed from their other half and from their label")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("examples/output"))
    args = parser.parse_args()

    digits = load_digits()
    images = digits.data.reshape(-1, 8, 8)
    left = images[:, :, :4].reshape(-1, 32)
    right = images[:, :, 4:].reshape(-1, 32)
    one_hot = np.eye(10)[digits.target]
    train, test = train_test_split(
        np.arange(len(images)), test_size=0.3, random_state=0, stratify=digits.target
    )

    def models():
        return [
            ("CCA", CCA(n_components=N_COMPONENTS, max_iter=1000)),
            ("CorrNet", CorrNet(n_components=N_COMPONENTS, random_state=0)),
        ]

    halves = []
    halves_rows = []
    for name, model in models():
        halves_rows.append(evaluate(name, model, left[train], right[train], left[test], right[test]))
        halves.append((name, model))
    print_table(f"Digits: left half -> right half ({N_COMPONENTS} components, 540 test rows)", halves_rows)

    X_img = digits.data
    label_rows = []
    for name, model in models():
        label_rows.append(
            evaluate(name, model, X_img[train], one_hot[train], X_img[test], one_hot[test], labels=True)
        )
        label_model = model
    print_table(f"Digits: image -> one-hot label ({N_COMPONENTS} components)", label_rows)

    args.output.mkdir(parents=True, exist_ok=True)
    png = args.output / "digits_reconstructions.png"
    save_reconstructions(png, images[test], halves, label_model, digits.target[test])
    print(f"Saved {png}")


if __name__ == "__main__":
    main()
