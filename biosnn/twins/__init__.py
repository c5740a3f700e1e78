"""The twin: a Brian2 network compiled into a differentiable PyTorch module.

>>> import brian2, torch, biosnn
>>> tw = biosnn.twin(net, batch_size=32)                    # doctest: +SKIP
>>> res = tw.run(500 * brian2.ms, inputs={"input": {"rates": rates_hz}}, record={"E": ["v"]})  # doctest: +SKIP
>>> res.spike_trains["E"]          # Tensor[T, B, N], 0/1 spikes carrying the surrogate gradient  # doctest: +SKIP
>>> res.spikes["E"][0]             # (indices, times) of trial 0, like SpikeMonitor.it              # doctest: +SKIP
>>> res.states["E"]["v"]           # Tensor[T, B, N] in volts                                       # doctest: +SKIP
>>> tw.parameter("input_E", "w")   # the nn.Parameter of a synaptic weight (also tw.params["input_E__w"])  # doctest: +SKIP
>>> tw.push(); tw.pull()           # move state, weights and time to Brian2 and back (bit-exact in float64)  # doctest: +SKIP

Modules, in the order a network goes through them (as Brian2's ``codegen``/``devices`` layers):

* :mod:`biosnn.twins.twin` -- :func:`twin`, :class:`Twin` (the facade: run, pull, push, parameters),
  :class:`TwinResult`;
* :mod:`biosnn.twins.capture` -- a Brian2 network as declared, scheduled blocks (checked before anything runs);
* :mod:`biosnn.twins.brian_adapter` -- every access to Brian2's private attributes (code objects, spike
  queues, clocks);
* :mod:`biosnn.twins.codegen` -- Brian2 abstract code to Python functions on tensors;
* :mod:`biosnn.twins.targets` -- the targets (registry: ``torch``, ``c``) that turn the blocks into the steps
  of a run without gradients; :mod:`biosnn.twins.kernels` -- the C target's code generator (templates in
  ``templates/``) and compiler; :mod:`biosnn.twins.cmath` -- NumPy-exact C math;
* :mod:`biosnn.twins.build` -- capture, generated code, operations and the target's program, rebuilt when
  the arrays held per trial change;
* :mod:`biosnn.twins.state` -- the mirrored arrays, the parameters, pull/push and the spike-queue transfer;
* :mod:`biosnn.twins.runtime` -- the per-step operations (registry keyed by Brian2 template), the helpers the
  generated code calls, surrogate spike, random sources (registry: ``torch``, ``numpy``), TimedArrays;
* :mod:`biosnn.twins.plan`, :mod:`biosnn.twins.simulate`, :mod:`biosnn.twins.result` -- one run: its inputs
  and records, its steps, its result;
* :mod:`biosnn.twins.functions` -- Brian2's functions on tensors (NumPy-exact forward values on CPU).
"""  # noqa: E501

from biosnn.twins.twin import Twin, TwinResult, twin

__all__ = ["Twin", "TwinResult", "twin"]
