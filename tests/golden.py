"""Fixed-seed fits whose outputs are recorded, so that a change meant to move
code, not results, can be checked bitwise (``tests/test_golden.py``).

``python tests/golden.py`` records them in ``tests/golden/fits.npz``, with the
environment they ran in: torch and numpy versions and the CPU. Floating-point
results are bitwise reproducible only for the same build on the same kind of
CPU, so the test compares bitwise there and is skipped elsewhere. Record again
only for a change that is meant to alter results, and say so in its commit.
"""

import platform
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from skcorrnet import CorrNet
from views import halves

GOLDEN = Path(__file__).with_name("golden") / "fits.npz"
WORKER = Path(__file__).with_name("distributed_worker.py")
# Rows whose components are recorded.
_SHOWN = slice(0, 64)


def environment():
    """What bitwise reproducibility depends on, as one string: the torch and
    numpy builds, the CPU's exact model and the threads torch computes with."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "cpu family", "model", "stepping"):
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    cpu = fields.get("model name", platform.processor() or platform.machine())
    family = "/".join(fields.get(k, "?") for k in ("cpu family", "model", "stepping"))
    return (
        f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}, "
        f"{torch.get_num_threads()} threads), numpy {np.__version__}, {cpu} "
        f"(family/model/stepping {family})"
    )


def outputs(model, X, Y):
    """A fitted model's recorded arrays: components, weights, readouts,
    histories."""
    zx, zy = model.transform(X[_SHOWN], Y[_SHOWN])
    state = model.module_.state_dict()
    readouts = model._readouts or {}
    return {
        "x_components": zx,
        "y_components": zy,
        "weights": np.concatenate(
            [state[k].detach().cpu().double().numpy().ravel() for k in sorted(state)]
        ),
        "readouts": np.concatenate(
            [np.ravel(a) for view in sorted(readouts) for a in readouts[view]] or [[]]
        ),
        "loss_curve": np.asarray(model.loss_curve_),
        "validation_scores": np.asarray(model.validation_scores_ or []),
        "n_iter": np.asarray(model.n_iter_),
    }


def _semi_paired(X, Y):
    X, Y = X.copy(), Y.copy()
    lonely = np.arange(0, len(X), 3)
    Y[lonely[::2]] = np.nan
    X[lonely[1::2]] = np.nan
    return X, Y


def local_fits(tmp):
    """``{scenario: outputs}`` of the one-process fits."""
    X, Y = halves()
    small = dict(hidden_layer_sizes=(32,), max_iter=8, random_state=0)
    fits = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CorrNet(n_components=5, **small).fit(X, Y)
        fits["plain"] = outputs(model, X, Y)
        Xs, Ys = _semi_paired(X, Y)
        model = CorrNet(
            n_components=5, allow_missing_views=True, ranking_weight=1.0, **small
        ).fit(Xs, Ys)
        fits["semi-paired-ranking"] = outputs(model, X, Y)
        path = Path(tmp) / "views.npy"
        np.save(path, np.hstack([X, Y]).astype(np.float32))
        both = np.load(path, mmap_mode="r")
        model = CorrNet(
            n_components=5, early_stopping=True, n_iter_no_change=2, **small
        ).fit(both[:, :32], both[:, 32:])
        fits["memmap-early-stopping"] = outputs(model, X, Y)
        del both
        model = CorrNet(n_components=5, hidden_layer_sizes=(32,), random_state=0)
        for chunk in np.array_split(np.arange(len(X)), 3):
            model.partial_fit(X[chunk], Y[chunk])
        fits["partial-fit"] = outputs(model, X, Y)
    return fits


def distributed_fits(load):
    """``{scenario: outputs}`` of rank 0's two-rank fits, read with ``load``."""
    X, Y = halves()
    return {
        f"distributed-{name}": outputs(load(name, 0), X, Y)
        for name in ("fit", "missing")
    }


def _launch(out):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc_per_node", "2", str(WORKER), str(out),
    ]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)

    def load(name, rank):
        import pickle

        with open(Path(out) / f"{name}-{rank}.pkl", "rb") as f:
            return pickle.load(f)

    return load


def recorded():
    """The recorded arrays, or None when they were recorded elsewhere."""
    saved = np.load(GOLDEN)
    return saved if str(saved["environment"]) == environment() else None


def skip_reason():
    return f"recorded on {np.load(GOLDEN)['environment']}, this is {environment()}"


def assert_as_recorded(fits):
    """Every array of ``fits`` equals the recorded one, bit for bit."""
    saved = recorded()
    for scenario, values in fits.items():
        for name, value in values.items():
            expected = saved[f"{scenario}/{name}"]
            assert value.dtype == expected.dtype, f"{scenario}/{name}"
            assert np.array_equal(value, expected), f"{scenario}/{name} moved"


def record():
    with tempfile.TemporaryDirectory() as tmp:
        fits = {**local_fits(tmp), **distributed_fits(_launch(tmp))}
    arrays = {
        f"{scenario}/{name}": value
        for scenario, values in fits.items()
        for name, value in values.items()
    }
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, environment=np.asarray(environment()), **arrays)
    print(f"recorded {len(fits)} fits in {GOLDEN} ({environment()})")


if __name__ == "__main__":
    record()
