"""The Correlational Neural Network as a torch ``nn.Module``.

Chandar et al. (2016), Section 3: two views x and y share one latent space,

    h(x)    = f(W x + b)
    h(y)    = f(V y + b)
    h(x, y) = f(W x + V y + b)

with one shared bias b, and decoders that reconstruct *both* views from any
latent. Here each view's map is a linear path plus, with ``hidden_layer_sizes``,
a nonlinear branch (an MLP): ``W x = W_lin x + W_out g(x)``. Each decoder is
likewise a linear map, plus an MLP branch when it is given hidden layers. With
no hidden layer anywhere this is the paper's one-layer network.

:meth:`CorrNetModule.start_from` sets the linear paths to a closed-form linear
CCA and the last layers of the branches to zero, so training starts from the
linear solution and only adds to it. Decoder outputs are linear because the
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


def _mlp(sizes, activation):
    """Linear layers between consecutive ``sizes``, activations in between."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class _Path(nn.Module):
    """A linear map plus, when ``hidden`` is not empty, an MLP branch."""

    def __init__(self, n_in, n_out, hidden, activation, bias):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out, bias=bias)
        self.branch = _mlp((n_in, *hidden, n_out), activation) if hidden else None
        if self.branch is not None:
            self.branch[-1].bias = None  # one bias per output: the linear one's

    def forward(self, a):
        out = self.linear(a)
        return out if self.branch is None else out + self.branch(a)

    @torch.no_grad()
    def start_from(self, weight, rows):
        """The first ``rows`` outputs (``rows=False``: input columns) of the
        linear map set to ``weight``; the others' columns zeroed for a decoder;
        the bias zeroed; the branch starts at zero."""
        if rows:
            self.linear.weight[: weight.shape[0]] = weight
        else:
            self.linear.weight.zero_()
            self.linear.weight[:, : weight.shape[1]] = weight
        if self.linear.bias is not None:
            self.linear.bias.zero_()
        if self.branch is not None:
            self.branch[-1].weight.zero_()


class CorrNetModule(nn.Module):
    """Encoders and decoders of a two-view CorrNet.

    Parameters
    ----------
    n_features_x, n_features_y : int
        Input dimension of each view.
    n_components : int
        Number of latent units.
    hidden_layer_sizes : tuple of int
        Layers of each view's nonlinear branch.
    decoder_layer_sizes : tuple of int
        Layers of each decoder's nonlinear branch, from the latent units
        outwards; ``()``: linear decoders.
    activation : {"identity", "logistic", "tanh", "relu"}
        Activation of the hidden layers.
    latent_activation : {"identity", "logistic", "tanh", "relu"}
        The latent units' f (the paper's model: "logistic").
    generator : torch.Generator
        Source of randomness for the initial weights.
    """

    def __init__(
        self,
        n_features_x,
        n_features_y,
        n_components,
        hidden_layer_sizes,
        decoder_layer_sizes,
        activation,
        latent_activation,
        generator,
    ):
        super().__init__()
        hidden, back = tuple(hidden_layer_sizes), tuple(decoder_layer_sizes)
        k = n_components
        self.encoder_x = _Path(n_features_x, k, hidden, activation, bias=False)  # W
        self.encoder_y = _Path(n_features_y, k, hidden, activation, bias=False)  # V
        self.latent_bias = nn.Parameter(torch.zeros(k))  # b, shared
        self.latent_activation = ACTIVATIONS[latent_activation]()
        self.decoder_x = _Path(k, n_features_x, back, activation, bias=True)
        self.decoder_y = _Path(k, n_features_y, back, activation, bias=True)
        self._init_weights(latent_activation, generator)

    @torch.no_grad()
    def _init_weights(self, latent_activation, generator):
        # Glorot-uniform weights, zero biases, drawn from a local generator so that
        # a seed gives the same network whatever the global torch RNG state
        # (as scikit-learn's MLP; factor 2 for the logistic, Glorot & Bengio 2010).
        factor = 2.0 if latent_activation == "logistic" else 1.0
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                fan_out, fan_in = layer.weight.shape
                bound = factor * math.sqrt(6.0 / (fan_in + fan_out))
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()

    @torch.no_grad()
    def start_from(self, encoders, decoders):
        """Start at a linear solution, every branch at zero.

        ``encoders`` = (W, V) set the first latent units' linear paths (the
        other units keep theirs); ``decoders`` = (D_x, D_y) the decoders'
        linear maps from those units (from the others: zero).
        """
        self.encoder_x.start_from(encoders[0], rows=True)
        self.encoder_y.start_from(encoders[1], rows=True)
        self.latent_bias.zero_()
        self.decoder_x.start_from(decoders[0], rows=False)
        self.decoder_y.start_from(decoders[1], rows=False)

    def encoder(self, view):
        """The encoder path of view ``"x"`` (W) or ``"y"`` (V)."""
        return self.encoder_x if view == "x" else self.encoder_y

    def decoder(self, view):
        """The decoder of view ``"x"`` or ``"y"``."""
        return self.decoder_x if view == "x" else self.decoder_y

    def pre_x(self, x):
        """W x: the x view's contribution to the latent pre-activation."""
        return self.encoder_x(x)

    def pre_y(self, y):
        """V y: the y view's contribution to the latent pre-activation."""
        return self.encoder_y(y)

    def latent(self, pre):
        """f(pre + b) for a (sum of) view pre-activation(s)."""
        return self.latent_activation(pre + self.latent_bias)

    def forward(self, x, y):
        """Latents h(x), h(y), h(x, y) of a paired batch."""
        px, py = self.pre_x(x), self.pre_y(y)
        return self.latent(px), self.latent(py), self.latent(px + py)
