"""A CLIP-style two-tower model: the retrieval baseline of ``ranking.py``.

Written here, not in the package, as a user would write it (Radford et al.,
2021): one encoder per view with CorrNet's default widths (its hidden layers
of ReLU units, then ``k`` linear outputs), trained with the symmetric InfoNCE
loss on the cosine similarities of the L2-normalised outputs, scaled by a
learned temperature (initialised at 1/0.07 and capped at 100, as CLIP's).
Adam at the deep peers' rate (``_deep_peers.PEER_RATE``), and CorrNet's
default batch size (by its rule, for ``"auto"``) and epoch budget (read
from ``CorrNet()``).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.preprocessing import StandardScaler
from torch import nn

from _deep_peers import _DEFAULTS, PEER_RATE, _mlp, batch_rows


class TwoTower:
    """``fit(X, Y)`` then ``transform(X, Y)``, as the other competitors."""

    def __init__(self, n_components, hidden=_DEFAULTS["hidden_layer_sizes"],
                 epochs=_DEFAULTS["max_iter"], batch_size=_DEFAULTS["batch_size"],
                 lr=PEER_RATE, seed=0):  # fmt: skip
        self.n_components = n_components
        self.hidden = tuple(hidden)
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed

    def fit(self, X, Y):
        gen = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.scalers_ = [StandardScaler().fit(X), StandardScaler().fit(Y)]
        x, y = self._views(X, Y)
        self.towers_ = nn.ModuleList(
            [_mlp(v.shape[1], self.n_components, self.hidden) for v in (x, y)]
        )
        self.log_scale_ = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        params = [*self.towers_.parameters(), self.log_scale_]
        optimiser = torch.optim.Adam(params, lr=self.lr)
        batch = batch_rows(self.batch_size, len(x), self.n_components)
        target = torch.arange(batch)
        for _ in range(self.epochs):
            for rows in torch.randperm(len(x), generator=gen).split(batch):
                if len(rows) < 2:
                    continue
                a, b = self._embed(x[rows], y[rows])
                logits = self.log_scale_.clamp(max=math.log(100)).exp() * a @ b.T
                t = target[: len(rows)]
                loss = 0.5 * (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        return self

    def _views(self, X, Y):
        return [
            torch.from_numpy(s.transform(np.asarray(v, dtype=np.float64)).astype(np.float32))
            for s, v in zip(self.scalers_, (X, Y))
        ]

    def _embed(self, x, y):
        a, b = (tower(v) for tower, v in zip(self.towers_, (x, y)))
        return F.normalize(a, dim=1), F.normalize(b, dim=1)

    def transform(self, X, Y):
        with torch.no_grad():
            a, b = self._embed(*self._views(X, Y))
        return a.numpy().astype(np.float64), b.numpy().astype(np.float64)
