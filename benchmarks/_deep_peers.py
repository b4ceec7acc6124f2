"""cca-zoo 4.0.1's Deep CCA and DCCAE as competitors (the ``bench`` extra).

Encoders match CorrNet's default network: its hidden layers of ReLU units per
view, then ``k`` linear outputs; DCCAE's decoders mirror them. Both train
with Adam at ``PEER_RATE`` (1e-2: CorrNet's rate on every digits task from
the fifth session to the fifteenth; the sixteenth raised CorrNet's to 2e-2
in short epochs and kept the peers' rate, so that the change is measured
against the same peers), and at CorrNet's default batch size and epoch
budget (``max_iter``), read from ``CorrNet()`` so that they follow its
defaults (a batch size of ``"auto"`` by CorrNet's rule, :func:`batch_rows`),
through Lightning, as cca-zoo's documentation shows. Their representations
are read through ``transform(X, Y)``, as every competitor's.
"""

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn

from skcorrnet import CorrNet
from skcorrnet._training import auto_batch

_DEFAULTS = CorrNet().get_params()
PEER_RATE = 1e-2


def batch_rows(batch_size, n_rows, n_components):
    """Rows per batch: ``batch_size``, or for ``"auto"`` CorrNet's rule."""
    if batch_size == "auto":
        return auto_batch(n_rows, n_components)
    return batch_size


def _mlp(n_in, n_out, hidden):
    """ReLU layers of the ``hidden`` widths, then a linear output layer."""
    layers, width = [], n_in
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers, nn.Linear(width, n_out))


class DeepPeer:
    """``kind`` = "DCCA" or "DCCAE" with CorrNet's widths, epochs and batch."""

    def __init__(self, kind, n_components, hidden=_DEFAULTS["hidden_layer_sizes"],
                 epochs=_DEFAULTS["max_iter"], batch_size=_DEFAULTS["batch_size"],
                 lr=PEER_RATE, seed=0):  # fmt: skip
        self.kind = kind
        self.n_components = n_components
        self.hidden = tuple(hidden)
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed

    def fit(self, X, Y):
        try:
            import lightning.pytorch as pl
            from cca_zoo.deep import DCCA, DCCAE, MultiviewDataset
        except ImportError as exc:
            raise ImportError(
                "The Deep CCA competitors need cca-zoo: pip install -e '.[bench]' "
                "(or make bench), or run the script with --no-deep."
            ) from exc
        from torch.utils.data import DataLoader

        torch.manual_seed(self.seed)
        self.scalers_ = [StandardScaler().fit(X), StandardScaler().fit(Y)]
        views = self._views(X, Y)
        k = self.n_components
        encoders = [_mlp(v.shape[1], k, self.hidden) for v in views]
        if self.kind == "DCCA":
            self.model_ = DCCA(k, encoders, learning_rate=self.lr)
        else:
            decoders = [_mlp(k, v.shape[1], self.hidden[::-1]) for v in views]
            self.model_ = DCCAE(k, encoders, decoders, learning_rate=self.lr)
        batch = batch_rows(self.batch_size, len(views[0]), k)
        loader = DataLoader(
            MultiviewDataset(views), batch_size=batch, shuffle=True,
            drop_last=len(views[0]) > batch,
        )
        trainer = pl.Trainer(
            max_epochs=self.epochs, logger=False, enable_progress_bar=False,
            enable_checkpointing=False, enable_model_summary=False,
            accelerator="cpu", deterministic=True,
        )
        trainer.fit(self.model_, loader)
        return self

    def _views(self, X, Y):
        return [
            s.transform(np.asarray(v, dtype=np.float64)).astype(np.float32)
            for s, v in zip(self.scalers_, (X, Y))
        ]

    def transform(self, X, Y):
        self.model_.eval()
        with torch.no_grad():
            zs = self.model_([torch.from_numpy(v) for v in self._views(X, Y)])
        return tuple(z.numpy().astype(np.float64) for z in zs)
