"""What the benchmark scripts share: the machine stamp, the data, the output.

- :func:`machine`: CPU model, cores, versions and device, saved with every result.
- :func:`status_mib`: the process's memory figures, from /proc/self/status.
- :func:`digits_tasks`: the two real two-view tasks that ship with scikit-learn.
- :func:`two_factor_views`: scikit-learn's compare-cross-decomposition data.
- :func:`latent_factor_views`: synthetic views with a known spectrum of
  population canonical correlations.
- :func:`save`: JSON (every number) and markdown (the table) under ``results/``.
- :func:`run_child`: one measurement in a fresh process (its own memory, its
  own torch threads), read back as the JSON line it prints last.
- :class:`RidgeCCA`: the closed-form CCA competitor, its ridge chosen by CV.
"""

import json
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import pairwise_distances
from sklearn.model_selection import KFold

from skcorrnet._linear_cca import RIDGES, fit_linear_cca
from skcorrnet.metrics import sum_of_correlations

RESULTS = Path(__file__).parent / "results"


def machine(device="cpu"):
    """Facts about where a result was measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    facts = {
        "cpu": cpu,
        "cores": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "device": str(device),
    }
    if str(device).startswith("cuda"):
        facts["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return facts


def status_mib(field):
    """A memory figure of this process from /proc/self/status (VmRSS, RssAnon...), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def digits_tasks():
    """The three digits tasks: name -> (X, Y, stratification labels).

    ``halves``: left half (32 pixels) vs right half of each 8x8 image.
    ``label``: whole image (64 pixels) vs its one-hot label (10 columns; their
    centred rank is 9, so at most 9 canonical pairs exist).
    ``nonlinear``: whole image vs a nonlinear descriptor of it, the squares of
    32 fixed random projections of the standardised pixels (a relation deep
    models can find and linear ones cannot).
    """
    digits = load_digits()
    images = digits.data.reshape(-1, 8, 8)
    X = digits.data
    standard = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-9)
    projections = np.random.RandomState(0).normal(size=(64, 32)) / 8
    return {
        "halves": (
            images[:, :, :4].reshape(-1, 32),
            images[:, :, 4:].reshape(-1, 32),
            digits.target,
        ),
        "label": (X, np.eye(10)[digits.target], digits.target),
        "nonlinear": (X, (standard @ projections) ** 2, digits.target),
    }


def label_ranks(model, X_test, Y_test):
    """Rank (1 = best) of each test image's true label among all labels.

    Queries are the images' X components, candidates the y components of the
    one-hot labels (cosine), so the figure is cross-modal retrieval over the
    label set; its recall@1 is the accuracy of the retrieved label.
    """
    labels = np.eye(Y_test.shape[1])
    anchor = X_test[: len(labels)]  # transform needs X rows; only y's side is used
    label_emb = model.transform(anchor, labels)[1]
    image_emb = model.transform(X_test, Y_test)[0]
    dist = pairwise_distances(image_emb, label_emb, metric="cosine")
    true = dist[np.arange(len(dist)), Y_test.argmax(axis=1)]
    return (dist <= true[:, None]).sum(axis=1)  # ties count against the true label


def two_factor_views(n=500, seed=0):
    """scikit-learn's compare-cross-decomposition example data (seed 0 as there).

    Two latent factors, each copied into two columns of X and of Y, plus unit
    noise.
    """
    rng = np.random.RandomState(seed)
    l1, l2 = rng.normal(size=n), rng.normal(size=n)
    latents = np.array([l1, l1, l2, l2]).T
    X = latents + rng.normal(size=4 * n).reshape((n, 4))
    Y = latents + rng.normal(size=4 * n).reshape((n, 4))
    return X, Y


def spectrum(n_pairs=50, high=0.95, low=0.2):
    """Population canonical correlations, evenly spaced from ``high`` to ``low``."""
    return np.linspace(high, low, n_pairs)


def latent_factor_views(
    n_rows, correlations, n_features=392, seed=0, rows_seed=None, n_features_y=None
):
    """Two float32 views sharing latent factors with known canonical correlations.

    With r = len(correlations) independent factors z_i of variance
    s_i = rho_i / (1 - rho_i), and orthonormal loadings (r x p) per view,

        x = z @ L_x + e_x,    y = z @ L_y + e_y,    e ~ N(0, I),

    the population canonical correlations are exactly ``rho_i`` (each canonical
    pair is the loading direction of z_i, seen through unit noise in each view)
    and 0 for the other p - r directions. The loadings depend on ``seed`` only,
    the rows on ``rows_seed``, so train and test sets share the model. Rows are
    drawn in blocks, directly in float32: no float64 copy of the data is made.
    ``n_features_y`` (default ``n_features``) sets Y's width q.

    Returns
    -------
    X, Y : ndarray of shape (n_rows, n_features) and (n_rows, q), float32
    """
    rho = np.asarray(correlations, dtype=np.float64)
    r = rho.size
    widths = (n_features, n_features if n_features_y is None else n_features_y)
    model = np.random.default_rng(seed)
    loadings = [
        np.linalg.qr(model.standard_normal((width, r)))[0].T.astype(np.float32)
        for width in widths
    ]
    scale = np.sqrt(rho / (1 - rho)).astype(np.float32)
    rng = np.random.default_rng(seed + 1 if rows_seed is None else rows_seed)
    X, Y = (np.empty((n_rows, width), dtype=np.float32) for width in widths)
    for start in range(0, n_rows, 65536):
        stop = min(start + 65536, n_rows)
        z = rng.standard_normal((stop - start, r), dtype=np.float32) * scale
        for out, load in zip((X, Y), loadings):
            out[start:stop] = z @ load
            out[start:stop] += rng.standard_normal(
                (stop - start, out.shape[1]), dtype=np.float32
            )
    return X, Y


# Population canonical correlations of the 10 linear factors (total 6.00)
# that factor_split's views share.
TEN_FACTORS = np.linspace(0.9, 0.3, 10)


def factor_split(n_train, n_test, width, seed):
    """(X, Xt, Y, Yt): the first ``n_train`` and next ``n_test`` rows of two
    ``width``-column views sharing the 10 linear factors of ``TEN_FACTORS``
    (:func:`latent_factor_views`, loadings and rows drawn from ``seed``)."""
    X, Y = latent_factor_views(
        n_train + n_test, TEN_FACTORS, n_features=width, seed=seed
    )
    return X[:n_train], X[n_train:], Y[:n_train], Y[n_train:]


def summarise(runs, keys, figures, sd_of="total_corr"):
    """Mean of each figure over the runs that share the ``keys`` columns.

    Also the standard deviation of ``sd_of`` across those runs (the seeds).
    """
    summary = []
    for key in dict.fromkeys(tuple(r[k] for k in keys) for r in runs):
        group = [r for r in runs if tuple(r[k] for k in keys) == key]
        row = dict(zip(keys, key))
        row.update({fig: float(np.mean([r[fig] for r in group])) for fig in figures})
        row[f"{sd_of}_sd"] = float(np.std([r[sd_of] for r in group]))
        summary.append(row)
    return summary


def markdown_table(rows, columns, formats=None):
    """A markdown table of dict rows; ``formats`` maps a column to a format spec."""
    formats = formats or {}
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col)
            if value is None:
                cells.append("")
            elif isinstance(value, str):
                cells.append(value)
            else:
                cells.append(format(value, formats.get(col, ".3f")))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def save(name, payload, lines, quick=False, output=RESULTS):
    """Write ``name.json`` (payload + machine) and ``name.md``; print the table.

    ``--quick`` runs write ``name-quick.*``, so they never overwrite the full
    results that are committed.
    """
    output.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-quick" if quick else name
    (output / f"{stem}.md").write_text("\n".join(lines) + "\n")
    (output / f"{stem}.json").write_text(json.dumps(payload, indent=1, default=float))
    print("\n".join(lines))
    return output / stem


def run_child(script, arguments, launcher=(), timeout=None):
    """Run ``script`` with ``arguments`` in a fresh Python; its last JSON line.

    ``launcher`` goes between the interpreter and the script (e.g. ``("-m",
    "torch.distributed.run", ...)``). Raises RuntimeError with the child's
    output (and its ``returncode`` and ``last_line``) when it fails, and lets
    ``subprocess.TimeoutExpired`` through.
    """
    command = [sys.executable, *launcher, str(script), *map(str, arguments)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        error = RuntimeError(
            f"{' '.join(command)} failed with exit {done.returncode}:\n"
            f"{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
        error.returncode = done.returncode
        error.last_line = ((done.stderr or done.stdout).strip().splitlines() or [""])[-1]
        raise error
    return json.loads(done.stdout.strip().splitlines()[-1])


def pyplot():
    """matplotlib's pyplot on the non-interactive backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class RidgeCCA:
    """Closed-form CCA, its ridge chosen by K-fold CV on held-out total correlation
    among the ridges CorrNet's linear start tries (``skcorrnet._linear_cca.RIDGES``)."""

    def __init__(self, n_components, ridges=RIDGES, cv=3, random_state=0):
        self.n_components = n_components
        self.ridges = ridges
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, Y):
        folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
        scores = np.zeros(len(self.ridges))
        for train, val in folds.split(X):
            for i, reg in enumerate(self.ridges):
                cca = fit_linear_cca(X[train], Y[train], self.n_components, reg)
                scores[i] += sum_of_correlations(*cca.transform(X[val], Y[val]))
        self.reg_ = self.ridges[int(np.argmax(scores))]
        self.cca_ = fit_linear_cca(X, Y, self.n_components, self.reg_)
        # CCA's predict: least squares from the X components to Y.
        scores_x = self.cca_.transform(X, Y)[0]
        design = np.column_stack([scores_x, np.ones(len(X))])
        self.coef_ = np.linalg.lstsq(design, Y, rcond=None)[0]
        return self

    def transform(self, X, Y):
        return self.cca_.transform(X, Y)

    def predict(self, X):
        scores_x = (X - self.cca_.mean_a) @ self.cca_.weights_a
        return np.column_stack([scores_x, np.ones(len(X))]) @ self.coef_
