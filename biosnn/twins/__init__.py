"""The twin: a Brian2 network compiled into a differentiable PyTorch module.

``biosnn.twin(network)`` returns a :class:`Twin` (a ``torch.nn.Module``); see :mod:`biosnn.twins.twin`.
"""

from biosnn.twins.twin import Twin, TwinResult, twin

__all__ = ["Twin", "TwinResult", "twin"]
