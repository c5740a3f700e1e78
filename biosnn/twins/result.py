"""What a run collects step by step (spikes, records), and the result it returns.

:class:`RunRecord` keeps each step's spikes sparsely (and as dense 0/1 trains carrying the surrogate gradient
when gradients are wanted) and the recorded states; :func:`collect` turns them into the parts of a
:class:`~biosnn.twins.twin.TwinResult`: spike trains (dense on first access, :class:`LazySpikeTrains`),
Brian2-ordered ``(indices, times)`` per trial, spike counts, states and the time grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import brian2
import numpy as np
import torch

from biosnn.twins.runtime import SpikeGeneratorOp, ThresholdOp


class LazySpikeTrains(Mapping):
    """``result.spike_trains[group] -> Tensor[T, B, N]``, built on first access when recorded sparsely."""

    def __init__(self, dense: dict, sparse: dict, shape: dict, dtype, device) -> None:
        self._dense = dense
        self._sparse = sparse
        self._shape = shape
        self._dtype = dtype
        self._device = device

    def __getitem__(self, name):
        if name not in self._dense:
            if name not in self._sparse:
                raise KeyError(name)
            steps, b, i = self._sparse[name]
            T, B, N = self._shape[name]
            out = torch.zeros(T, B, N, dtype=self._dtype, device=self._device)
            out[steps, b, i] = 1.0
            self._dense[name] = out
        return self._dense[name]

    def __iter__(self):
        return iter(sorted(set(self._dense) | set(self._sparse)))

    def __len__(self):
        return len(set(self._dense) | set(self._sparse))


@dataclass
class SpikingGroup:
    """A group whose spikes a run collects."""

    name: str
    size: int


@dataclass
class RunRecord:
    """What a run collects step by step: spikes (sparse, and dense 0/1 trains with gradients) and records."""

    functional: bool
    spike_groups: dict[str, SpikingGroup]  # eventspace key -> group
    dense_trains: dict
    sparse: dict
    states: dict

    @classmethod
    def start(cls, ops, records, functional: bool) -> RunRecord:
        spike_groups = {}
        for op in ops:
            spikes = getattr(op, "eventspace", "").endswith("_spikespace")
            if isinstance(op, (ThresholdOp, SpikeGeneratorOp)) and spikes:
                spike_groups[op.eventspace] = SpikingGroup(op.group_name, op.size)
        states = {k: [] for k in records.keys}
        states.update({(rb.group, n): [] for rb in records.blocks for n in rb.names})
        return cls(
            functional,
            spike_groups,
            {g.name: [] for g in spike_groups.values()} if functional else {},
            {g.name: [] for g in spike_groups.values()},
            states,
        )

    def spikes_of_step(self, R, k: int, B: int, dtype, device) -> None:
        for ev, g in self.spike_groups.items():
            if ev in R.events:
                _cond, value, (b, i) = R.events[ev]
                if self.functional:
                    self.dense_trains[g.name].append(value)
                if b.shape[0]:
                    self.sparse[g.name].append((k, b, i))
            elif self.functional:
                self.dense_trains[g.name].append(torch.zeros(B, g.size, dtype=dtype, device=device))


def collect(out: RunRecord, start: int, n_steps: int, B: int, dt: float, dtype, device) -> tuple:
    """``(spike_trains, spikes, states, t, counts)`` of a run (the fields of a ``TwinResult``)."""
    shapes, sp = {}, {}
    dense = {}
    spikes: dict[str, list] = {}
    counts = {}
    for g in out.spike_groups.values():
        gname, size = g.name, g.size
        shapes[gname] = (n_steps, B, size)
        steps, bs, iis, s_np = _sparse_spikes(out.sparse[gname], device)
        sp[gname] = (steps, bs, iis)
        if gname in out.dense_trains:
            trains = out.dense_trains[gname]
            dense[gname] = torch.stack(trains) if trains else torch.zeros(0, B, size, dtype=dtype, device=device)
        b_np, i_np = bs.cpu().numpy(), iis.cpu().numpy()
        # every step records its spikes in (trial, neuron) order, so a stable sort by trial leaves each
        # trial's spikes ordered by (time, neuron), as SpikeMonitor.it
        order = np.argsort(b_np.astype(np.int32), kind="stable")
        per_trial = np.bincount(b_np, minlength=B)
        bounds = np.concatenate([[0], np.cumsum(per_trial)])
        i_sorted, s_sorted = i_np[order].astype(np.int32), s_np[order]
        spikes[gname] = [
            (
                i_sorted[bounds[b] : bounds[b + 1]],
                ((s_sorted[bounds[b] : bounds[b + 1]] + start) * dt) * brian2.second,
            )
            for b in range(B)
        ]
        counts[gname] = torch.as_tensor(np.bincount(b_np * size + i_np, minlength=B * size).reshape(B, size))
    st: dict[str, dict[str, torch.Tensor]] = {}
    for (gname, var), vals in out.states.items():
        if isinstance(vals, list):  # one tensor per step, or the run loop's [T, B, n]
            vals = torch.stack(vals) if vals else torch.zeros(0)
        st.setdefault(gname, {})[var] = vals
    t = (np.arange(start, start + n_steps) * dt) * brian2.second
    return LazySpikeTrains(dense, sp, shapes, dtype, device), spikes, st, t, counts


def _sparse_spikes(entries: list, device) -> tuple:
    """The steps, trials and neurons of a group's spikes, concatenated over the steps (and the steps in NumPy)."""
    if entries:
        bs = torch.cat([b for _, b, _ in entries])
        iis = torch.cat([i for _, _, i in entries])
        # an entry is one step's spikes (k, b, i), or a run loop's (steps, b, i) with a step per spike
        s_np = np.concatenate(
            [np.asarray(k, dtype=np.int64) if np.ndim(k) else np.full(b.shape[0], k, np.int64) for k, b, _ in entries]
        )
        steps = torch.as_tensor(s_np, device=device)
    else:
        steps = bs = iis = torch.zeros(0, dtype=torch.long, device=device)
        s_np = np.zeros(0, dtype=np.int64)
    return steps, bs, iis, s_np


__all__ = ["LazySpikeTrains", "RunRecord", "SpikingGroup", "collect"]
