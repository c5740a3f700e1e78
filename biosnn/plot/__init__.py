"""Plots of spiking circuits and their training (matplotlib).

Every function returns the :class:`matplotlib.figure.Figure` it drew and reads its data through
:mod:`biosnn.plot.data`, so it works on Brian2 monitors and on the twin's records alike:

* activity: :func:`raster` (E red, I blue), :func:`population_rates`, :func:`membrane_traces`,
  :func:`ei_balance` (E/I input balance);
* weights: :func:`weight_histogram`, :func:`weight_matrix`, :func:`weight_traces` (over time);
* plasticity: :func:`stdp_window` (measured by simulating the rule), :func:`weight_dependence`,
  :func:`frequency_dependence`;
* training: :func:`training_timeline` (accuracy, sparsity, E/I balance against epoch, phases shaded);
* :func:`save_figure` writes a figure to a file (the CLI writes PNGs into a run's directory with it).

Sources: Brian2 ``SpikeMonitor``/``StateMonitor``/``PopulationRateMonitor``/``Synapses``/``Network``, a
circuit (:class:`biosnn.circuits.Circuit`), the twin's :class:`~biosnn.twins.twin.TwinResult` (spikes and
states; states are SI numbers, pass ``unit=brian2.mV``) and :class:`~biosnn.twins.twin.Twin` (weights,
``var="<synapses>.<variable>"``), ``(indices, times)`` pairs, arrays and tensors, and
:class:`StateRecord` for traces computed from recorded variables (currents from conductances). New
source types register a converter in :mod:`biosnn.plot.data`.
"""

from __future__ import annotations

from biosnn.plot.activity import ei_balance, membrane_traces, population_rates, raster
from biosnn.plot.data import StateRecord, population_spikes, rate_data, spike_data, state_data, weight_data
from biosnn.plot.rules import frequency_dependence, stdp_window, weight_dependence
from biosnn.plot.style import save_figure
from biosnn.plot.training import read_metrics, training_timeline
from biosnn.plot.weights import weight_histogram, weight_matrix, weight_traces

__all__ = [
    "StateRecord",
    "ei_balance",
    "frequency_dependence",
    "membrane_traces",
    "population_rates",
    "population_spikes",
    "rate_data",
    "raster",
    "read_metrics",
    "save_figure",
    "spike_data",
    "stdp_window",
    "state_data",
    "training_timeline",
    "weight_data",
    "weight_dependence",
    "weight_histogram",
    "weight_matrix",
    "weight_traces",
]
