"""The twin: a Brian2 network compiled into a differentiable PyTorch module.

>>> import brian2, torch, biosnn
>>> tw = biosnn.twin(net, batch_size=32)                    # doctest: +SKIP
>>> res = tw.run(500 * brian2.ms, inputs={"input": {"rates": rates_hz}}, record={"E": ["v"]})  # doctest: +SKIP
>>> res.spike_trains["E"]          # Tensor[T, B, N], 0/1 spikes carrying the surrogate gradient  # doctest: +SKIP
>>> res.spikes["E"][0]             # (indices, times) of trial 0, like SpikeMonitor.it              # doctest: +SKIP
>>> res.states["E"]["v"]           # Tensor[T, B, N] in volts                                       # doctest: +SKIP
>>> tw.parameter("input_E", "w")   # the nn.Parameter of a synaptic weight (also tw.params["input_E__w"])  # doctest: +SKIP
>>> tw.push(); tw.pull()           # move state, weights and time to Brian2 and back (bit-exact in float64)  # doctest: +SKIP

Modules:

* :mod:`biosnn.twins.twin` -- :func:`twin`, :class:`Twin` (the module: run, pull, push, parameters),
  :class:`TwinResult`;
* :mod:`biosnn.twins.codegen` -- Brian2 abstract code to Python functions on tensors;
* :mod:`biosnn.twins.runtime` -- the per-step operations (registry keyed by Brian2 template), spike
  queues, surrogate spike, random sources (registry: ``torch``, ``numpy``), TimedArrays;
* :mod:`biosnn.twins.kernels` -- the back ends (registry: ``torch``, ``c``): Brian2's statements compiled
  into C loops over the tensors for runs without gradients on the CPU;
* :mod:`biosnn.twins.functions` -- Brian2's functions on tensors (NumPy-exact forward values on CPU).
"""  # noqa: E501

from biosnn.twins.twin import Twin, TwinResult, twin

__all__ = ["Twin", "TwinResult", "twin"]
