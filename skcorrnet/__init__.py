"""skcorrnet: Correlational Neural Networks with scikit-learn's CCA API.

:class:`CorrNet` learns a common representation of two paired views and is a
drop-in replacement for :class:`sklearn.cross_decomposition.CCA`, trained in
minibatches with PyTorch on the CPU or a GPU. :class:`CrossModalNeighbors`
searches a catalogue of one view with queries from the other.
:mod:`skcorrnet.metrics` holds the evaluation figures (correlations,
cross-modal retrieval).
"""

from ._corrnet import CorrNet
from ._search import CrossModalNeighbors

__all__ = ["CorrNet", "CrossModalNeighbors"]
__version__ = "0.1.0"
