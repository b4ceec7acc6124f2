"""The Correlational Neural Network as a torch ``nn.Module``.

Chandar et al. (2016), Section 3: two views x and y share one latent space,

    h(x)    = f(W x + b)
    h(y)    = f(V y + b)
    h(x, y) = f(W x + V y + b)

with one shared bias b, and decoders that reconstruct *both* views from any
latent. ``hidden_layer_sizes`` inserts extra layers before W (and V) in each
view's encoder; the decoders mirror them. Decoder outputs are linear because the
estimator feeds standardised data.
"""

import math

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "CorrNetModule"]

ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}


def _mlp(sizes, activation, last_activation):
    """Linear layers between consecutive ``sizes``, activations in between."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if last_activation or i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class CorrNetModule(nn.Module):
    """Encoders and decoders of a two-view CorrNet.

    Parameters
    ----------
    n_features_x, n_features_y : int
        Input dimension of each view.
    n_components : int
        Number of latent units.
    hidden_layer_sizes : tuple of int
        Extra encoder layers per view (the decoders mirror them).
    activation : {"identity", "logistic", "tanh", "relu"}
        Activation of the hidden layers and of the latent units.
    generator : torch.Generator
        Source of randomness for the initial weights.
    """

    def __init__(
        self,
        n_features_x,
        n_features_y,
        n_components,
        hidden_layer_sizes,
        activation,
        generator,
    ):
        super().__init__()
        hidden = tuple(hidden_layer_sizes)
        self.trunk_x = _mlp((n_features_x, *hidden), activation, last_activation=True)
        self.trunk_y = _mlp((n_features_y, *hidden), activation, last_activation=True)
        width_x = hidden[-1] if hidden else n_features_x
        width_y = hidden[-1] if hidden else n_features_y
        self.proj_x = nn.Linear(width_x, n_components, bias=False)  # W
        self.proj_y = nn.Linear(width_y, n_components, bias=False)  # V
        self.latent_bias = nn.Parameter(torch.zeros(n_components))  # b, shared
        self.latent_activation = ACTIVATIONS[activation]()
        back = tuple(reversed(hidden))
        self.decoder_x = _mlp((n_components, *back, n_features_x), activation, False)
        self.decoder_y = _mlp((n_components, *back, n_features_y), activation, False)
        self._init_weights(activation, generator)

    @torch.no_grad()
    def _init_weights(self, activation, generator):
        # Glorot-uniform weights, zero biases, drawn from a local generator so that
        # a seed gives the same network whatever the global torch RNG state
        # (as scikit-learn's MLP; factor 2 for the logistic, Glorot & Bengio 2010).
        factor = 2.0 if activation == "logistic" else 1.0
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                fan_out, fan_in = layer.weight.shape
                bound = factor * math.sqrt(6.0 / (fan_in + fan_out))
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()

    def pre_x(self, x):
        """W x: the x view's contribution to the latent pre-activation."""
        return self.proj_x(self.trunk_x(x))

    def pre_y(self, y):
        """V y: the y view's contribution to the latent pre-activation."""
        return self.proj_y(self.trunk_y(y))

    def latent(self, pre):
        """f(pre + b) for a (sum of) view pre-activation(s)."""
        return self.latent_activation(pre + self.latent_bias)

    def forward(self, x, y):
        """Latents h(x), h(y), h(x, y) of a paired batch."""
        px, py = self.pre_x(x), self.pre_y(y)
        return self.latent(px), self.latent(py), self.latent(px + py)
