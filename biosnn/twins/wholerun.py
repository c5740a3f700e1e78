r"""The whole run in native code: one C call steps every operation of a twin for many steps.

When every scheduled operation of a twin runs a C kernel (:mod:`biosnn.twins.kernels`) and a run has nothing
that changes from step to step on the Python side (no per-step inputs, no replaced generator spikes, no
recorded subexpressions, no scalar values that depend on state the run changes; scalar values that change
with time only are computed for every step before the loop), the C target generates one more function, the
*run loop*, compiled into the same library as the kernels:

.. code-block:: text

    for k in k0 .. n_steps - 1:                      step = start + k
        record the recorded arrays (StateMonitor, when="start")
        for every operation, in Brian2's schedule order, on the steps divisible by its ``every``:
            state update:  kernel(B, T, ts, scalars, arrays)
            threshold:     count_e = kernel(...)   -> the spike list (b, i) of event space e
            generator:     the spike list of its time bin (step % period), trial after trial
            reset:         kernel(count_e, spike list of e, ...) when e has spikes
            pathway:       push e's spike list into its ring slot, deliver what arrives (kernel)
        append the step's spikes (k, b, i) of every spiking group to the run's spike buffers

with ``ts = step // every`` and ``T = ts * dt_clock`` as :meth:`Operation.time` computes them. Each call is
the same call the step-by-step program makes (:meth:`biosnn.twins.runtime.Operation.kernel_step`), with the
same arguments, so the spikes and states are bit for bit those of the step-by-step run. Python is visited
once per run (and once more whenever a spike buffer has to grow: the loop returns the first step that might
not fit, Python doubles the buffer, the loop goes on from there).

The spike rings of the pathways (the spikes pushed ``0 .. L-1`` steps ago) are loaded from the operations
before the loop and handed back afterwards, so runs with and without the loop, with and without gradients,
and the transfer of the queues to Brian2 (:meth:`Twin.push`) go on where the other left off.
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from biosnn.twins.runtime import PathwayOp, ResetOp, SpikeGeneratorOp, ThresholdOp, UpdateOp

RUN_FUNCTION = "_bio_run"


@dataclass
class Layout:
    """The slots of the run loop's pointer table ``_P`` and integer table ``_I``: ``(what, which)`` pairs."""

    pointers: list[tuple[str, int]] = field(default_factory=list)
    integers: list[tuple[str, int]] = field(default_factory=list)

    def p(self, what: str, which: int) -> str:
        """The C of pointer slot ``(what, which)`` (a new slot the first time)."""
        return f"_P[{self._slot(self.pointers, (what, which))}]"

    def i(self, what: str, which: int) -> str:
        """The C of integer slot ``(what, which)`` (a new slot the first time)."""
        return f"_I[{self._slot(self.integers, (what, which))}]"

    @staticmethod
    def _slot(table: list, entry: tuple[str, int]) -> int:
        if entry not in table:
            table.append(entry)
        return table.index(entry)


def _ts_time(op) -> str:
    """The C of ``ts = step // every; T = ts * dt_clock`` (as :meth:`Operation.time`)."""
    return f"const int64_t _ts = _step / {op.every}; const double _T = (double)_ts * {op.clock_dt!r};"


class RunLoopWriter:
    """The C source of the run loop of ``ops`` (each with a kernel called ``fnames[j]``, or a generator).

    :meth:`write` returns the source, or ``None`` and :attr:`reason` when some operation has no C form.
    """

    def __init__(self, ops, fnames: dict[int, str]) -> None:
        self.ops = list(ops)
        self.fnames = fnames
        self.layout = Layout()
        self.reason = ""
        self.events: dict[str, int] = {}  # event space key -> its index e
        self.event_sizes: list[int] = []
        self.spiking: list[tuple[int, str]] = []  # (e, event space key) of the recorded spiking groups

    def write(self) -> str | None:
        for j, op in enumerate(self.ops):
            if isinstance(op, SpikeGeneratorOp):
                continue
            if op.kernel is None and j not in self.fnames:
                self.reason = f"{op.name} runs tensor code"
                return None
        for op in self.ops:
            if isinstance(op, (ThresholdOp, SpikeGeneratorOp)) and op.eventspace not in self.events:
                self.events[op.eventspace] = len(self.event_sizes)
                self.event_sizes.append(op.size)
                if op.eventspace.endswith("_spikespace"):
                    self.spiking.append((self.events[op.eventspace], op.eventspace))
        for op in self.ops:
            if isinstance(op, (ResetOp, PathwayOp)) and op.eventspace not in self.events:
                self.reason = f"{op.name}: no operation of the twin makes its events"
                return None
        L = self.layout
        decl = []
        for e in range(len(self.event_sizes)):
            decl.append(
                f"uint8_t* _cond{e} = (uint8_t*){L.p('cond', e)}; int64_t* _sb{e} = (int64_t*){L.p('sb', e)}; "
                f"int64_t* _si{e} = (int64_t*){L.p('si', e)}; int64_t _cnt{e} = 0; int _has{e} = 0;"
            )
        room = [
            f"if ({L.i('outcnt', s)} + _B * {self.event_sizes[e]} > {L.i('outcap', s)}) return _k;"
            for s, (e, _key) in enumerate(self.spiking)
        ]
        body = [self._op(j, op) for j, op in enumerate(self.ops)]
        out = [self._spikes_out(s, e) for s, (e, _key) in enumerate(self.spiking)]
        reset = " ".join(f"_has{e} = 0;" for e in range(len(self.event_sizes)))
        lines = [
            f"int64_t {RUN_FUNCTION}(int64_t _k0, int64_t _kend, int64_t _start, int64_t _B, void** _P, "
            "int64_t* _I, int64_t _nrec, void** _rec_dst, void** _rec_src, const int64_t* _rec_info, "
            "void** _rec_idx) {",
            *("    " + d for d in decl),
            "    for (int64_t _k = _k0; _k < _kend; _k++) {",
            "        const int64_t _step = _start + _k;",
            *("        " + r for r in room),
            "        for (int64_t _r = 0; _r < _nrec; _r++) {",
            "            const int64_t* _ri = _rec_info + 4 * _r;",
            "            _bio_record((char*)_rec_dst[_r] + _k * _B * _ri[2] * _ri[3], (const char*)_rec_src[_r], "
            "_B, _ri[0], _ri[1], (const int64_t*)_rec_idx[_r], _ri[2], _ri[3]);",
            "        }",
            f"        {reset}",
            *body,
            *out,
            "    }",
            "    return _kend;",
            "}",
        ]
        return RECORD_FUNCTION + "\n".join(lines) + "\n"

    def _due(self, op, code: str) -> str:
        cond = "" if op.every == 1 else f"if (_step % {op.every} == 0) "
        return f"        {cond}{{ {code} }}"

    def _kernel_args(self, j: int) -> str:
        L = self.layout
        scalars = f"(const double*){L.p('scal', j)} + _k * {L.i('sstride', j)}"  # stride 0: the same every step
        return f"_T, _ts, {scalars}, (void**){L.p('arr', j)}"

    def _op(self, j: int, op) -> str:
        L = self.layout
        fname = self.fnames.get(j)
        if isinstance(op, UpdateOp):
            return self._due(op, f"{_ts_time(op)} {fname}(_B, {self._kernel_args(j)});")
        if isinstance(op, ThresholdOp):
            e = self.events[op.eventspace]
            call = f"_cnt{e} = {fname}(_B, {self._kernel_args(j)}, _cond{e}, _sb{e}, _si{e}); _has{e} = 1;"
            return self._due(op, f"{_ts_time(op)} {call}")
        if isinstance(op, ResetOp):
            e = self.events[op.eventspace]
            call = f"if (_has{e} && _cnt{e}) {fname}(_cnt{e}, _sb{e}, _si{e}, {self._kernel_args(j)});"
            return self._due(op, f"{_ts_time(op)} {call}")
        if isinstance(op, SpikeGeneratorOp):
            e = self.events[op.eventspace]
            nbins = (max(op.by_bin) + 1) if op.by_bin else 0
            bin_of = f"_step % {op.period}" if op.period > 0 else "_step"
            code = (
                f"const int64_t _bin = {bin_of}; const int64_t* _gp = (const int64_t*){L.p('gen_ptr', j)}; "
                f"const int64_t* _gi = (const int64_t*){L.p('gen_idx', j)}; int64_t _c = 0; "
                f"if (_bin >= 0 && _bin < {nbins}) {{ const int64_t _lo = _gp[_bin], _m = _gp[_bin + 1] - _lo; "
                f"for (int64_t _b = 0; _b < _B; _b++) for (int64_t _q = 0; _q < _m; _q++) "
                f"{{ _sb{e}[_c] = _b; _si{e}[_c] = _gi[_lo + _q]; _c++; }} }} _cnt{e} = _c; _has{e} = 1;"
            )
            return self._due(op, code)
        if isinstance(op, PathwayOp):
            return self._due(op, self._pathway(j, op))
        raise AssertionError(op)  # pragma: no cover - write() refused it

    def _pathway(self, j: int, op: PathwayOp) -> str:
        """Push this step's spikes of the source into the ring slot ``pos``, deliver, advance ``pos``."""
        L = self.layout
        e = self.events[op.eventspace]
        pos = L.i("pos", j)
        dmin, dmax = (op.delay, op.delay) if op.homogeneous else (op.min_delay, op.max_delay)
        due = f"_counts[((_pos - {op.delay}) % {op.L} + {op.L}) % {op.L}]" if op.homogeneous else "1"
        return (
            f"{_ts_time(op)} const int64_t _pos = {pos}; int64_t* _counts = (int64_t*){L.p('counts', j)}; "
            f"void** _sbs = (void**){L.p('sbs', j)}; void** _sis = (void**){L.p('sis', j)}; "
            f"const int64_t _n = _has{e} ? _cnt{e} : 0; _counts[_pos] = _n; "
            f"if (_n) {{ memcpy(_sbs[_pos], _sb{e}, _n * 8); memcpy(_sis[_pos], _si{e}, _n * 8); }} "
            f"if ({due}) {self.fnames[j]}(_pos, {op.L}, _counts, _sbs, _sis, {dmin}, {dmax}, {op.start}, "
            f"{op.n_src}, (const int64_t*){L.p('ptr', j)}, (const int64_t*){L.p('syn', j)}, "
            f"(const int64_t*){L.p('dl', j)}, {self._kernel_args(j)}); "
            f"{pos} = (_pos + 1) % {op.L};"
        )

    def _spikes_out(self, s: int, e: int) -> str:
        L = self.layout
        cnt = L.i("outcnt", s)
        return (
            f"        if (_has{e} && _cnt{e}) {{ const int64_t _c = {cnt}; "
            f"int64_t* _os = (int64_t*){L.p('out_steps', s)}; "
            f"memcpy((int64_t*){L.p('out_b', s)} + _c, _sb{e}, _cnt{e} * 8); "
            f"memcpy((int64_t*){L.p('out_i', s)} + _c, _si{e}, _cnt{e} * 8); "
            f"for (int64_t _q = 0; _q < _cnt{e}; _q++) _os[_c + _q] = _k; {cnt} = _c + _cnt{e}; }}"
        )


#: a recorded array at the start of a step: ``dst[b, j] = src[b or 0, idx[j] or j]``, element size ``es``
RECORD_FUNCTION = r"""
static void _bio_record(char* dst, const char* src, int64_t B, int64_t n, int64_t batched, const int64_t* idx,
                        int64_t nsel, int64_t es) {
    for (int64_t b = 0; b < B; b++) {
        const char* row = src + (batched ? b * n * es : 0);
        char* out = dst + b * nsel * es;
        if (!idx) { memcpy(out, row, n * es); continue; }
        for (int64_t j = 0; j < nsel; j++) memcpy(out + j * es, row + idx[j] * es, es);
    }
}
"""


def why_not(plan, ops) -> str | None:
    """Why the run ``plan`` cannot take the run loop (``None`` when it can)."""
    if plan.n_steps == 0:
        return "nothing to run"
    if plan.inputs.per_step:
        return "inputs per step"
    if plan.records.blocks:
        return "recorded subexpressions"
    for op in ops:
        if isinstance(op, SpikeGeneratorOp) and op.override is not None:
            return f"the spikes of {op.name} are an input"
        k = op.kernel
        if k is not None and k.n_scalars and k.scalar_kind == "state":
            return f"the scalar values of {op.name} depend on state the run changes (or random numbers)"
    return None


def _addr(t: torch.Tensor) -> int:
    return t.data_ptr()


class RunLoop:
    """The compiled run loop of a program (:class:`RunLoopWriter`'s function in the loaded library)."""

    def __init__(self, lib, writer: RunLoopWriter) -> None:
        self.fn = getattr(lib, RUN_FUNCTION)
        self.fn.restype = ctypes.c_int64
        self.fn.argtypes = [ctypes.c_int64] * 4 + [ctypes.c_void_p] * 7
        self.set_threads = lib._bio_set_threads
        self.set_threads.argtypes = [ctypes.c_int64]
        self.writer = writer
        self.ops = writer.ops
        self.by_trial = True  # with threads > 1; False: all trials in one loop (the tests compare both)

    def run(self, sim) -> None:
        """Run every step of ``sim`` (a :class:`biosnn.twins.simulate.Simulation` without gradients) in C:
        its state ``sim.S`` is updated in place, its spikes and records go into ``sim.out``.

        With more than one trial and ``threads > 1`` (and :attr:`by_trial`), each trial runs the whole loop on
        its own rows of the batched arrays (as ``B = 1``), up to ``threads`` trials at once (the C call
        releases the GIL); trials share no written array, so the spikes and states are those of the batched
        loop, bit for bit (the tests compare both). Measured at N = 4000, B = 8 and 32, two threads: as fast
        as, or up to 1.8x faster than, the batched loop with its OpenMP chunks; with one thread the batched
        loop is faster (up to 1.7x, COBA), so it runs then.
        """
        tw, plan, S = sim.tw, sim.plan, sim.S
        B = tw.batch_size
        keep: list = []  # what the loop reads for every trial, alive until it returns
        shared = self._shared_values(S, sim.R, plan, keep)
        if B == 1 or tw.threads == 1 or not self.by_trial:
            part = self._run_rows(S, plan, B, shared)  # the kernels' threads: set by CProgram.loop_for
        else:
            self.set_threads(1)  # the threads take trials, not chunks of one trial
            for op in self.ops:
                if op.kernel is not None:
                    op.kernel.pointers(S)  # dtype and layout fixed once, on the run's own state

            def trial(b: int) -> tuple:
                rows = {k: v[b : b + 1] if k in plan.batched and v.dim() == 2 else v for k, v in S.items()}
                return self._run_rows(rows, plan, 1, shared, b)

            with ThreadPoolExecutor(max_workers=max(1, min(tw.threads, B))) as pool:
                part = self._merge(list(pool.map(trial, range(B))))
        self._hand_back(*part, sim.out)

    def _run_rows(self, S, plan, B: int, shared: dict, trial: int | None = None) -> tuple:
        """The loop over every step of ``plan`` on the state ``S`` (``B`` trials; one trial ``trial`` of the
        twin's batch, or all): its rings, integer table, spike buffers and records, for :meth:`_hand_back`.
        """
        n_steps = plan.n_steps
        keep: list = []  # every buffer and ctypes array the loop reads, alive until it returns
        values = {**shared, **self._row_values(S, B, keep)}
        rings = self._load_rings(B, values, keep, trial)
        out = self._spike_buffers(B, n_steps, values)
        rec = self._records(S, plan.records, B, n_steps, keep)
        start = {("outcap", s): bufs[3] for s, bufs in enumerate(out)}
        start.update({("pos", j): op.pos for j, op in enumerate(self.ops) if isinstance(op, PathwayOp)})
        integers = (ctypes.c_int64 * max(len(self.writer.layout.integers), 1))()
        for slot, entry in enumerate(self.writer.layout.integers):  # outcnt: 0; sstride: 0 unless a table
            integers[slot] = start.get(entry, values.get(entry, 0))
        k = 0
        while k < n_steps:
            table = self._table(values)
            k = self.fn(k, n_steps, plan.start, B, table, integers, *rec[:5])
            if k < n_steps:
                self._grow(B, out, integers, values)
        return rings, integers, out, rec[-1]

    def _merge(self, parts: list[tuple]) -> tuple:
        """One trial's loop results per element of ``parts`` (trials 0, 1, ...) as those of one batched loop:
        ring slots in (trial, neuron) order, the spikes trial after trial (:func:`biosnn.twins.result.collect`
        orders them by trial, stably), records ``[T, B, n]`` (each loop saw its trial as trial 0).
        """
        layout = self.writer.layout.integers
        rings = {}
        for j in parts[0][0]:
            counts = torch.stack([p[0][j][0] for p in parts]).sum(dim=0)
            L = counts.shape[0]
            width = max(int(counts.max()) if L else 0, 1)
            sb = torch.zeros(L, width, dtype=torch.int64)
            si = torch.zeros(L, width, dtype=torch.int64)
            for slot in range(L):
                c = [int(p[0][j][0][slot]) for p in parts]
                if sum(c):
                    sb[slot, : sum(c)] = torch.repeat_interleave(torch.arange(len(parts)), torch.as_tensor(c))
                    si[slot, : sum(c)] = torch.cat([p[0][j][2][slot, :n] for p, n in zip(parts, c, strict=True)])
            rings[j] = (counts, sb, si)
        integers = parts[0][1]
        out = []
        for s in range(len(self.writer.spiking)):
            slot = layout.index(("outcnt", s))
            chunks = [[t[: int(p[1][slot])] for t in p[2][s][:3]] for p in parts]
            for trial, c in enumerate(chunks):
                c[1] = torch.full_like(c[1], trial)
            steps, b, i = (torch.cat([c[q] for c in chunks]) for q in range(3))  # trial-major (collect() sorts)
            out.append([steps, b, i, int(steps.shape[0])])
            integers[slot] = int(steps.shape[0])
        filled = {rk: torch.cat([p[3][rk] for p in parts], dim=1) for rk in parts[0][3]}
        return rings, integers, out, filled

    def _shared_values(self, S, R, plan, keep: list) -> dict:
        """``(what, which) -> address or stride`` of what every trial's loop reads alike: the kernels'
        scalar values (one set, or for kernels whose values change with time only, ``"time"``, e.g.
        ``I = sin(2*pi*f*t)``, a table ``[n_steps, n_scalars]`` computed before the loop on the steps the
        operation is due, as the step-by-step run computes them, with its row stride), the pathways' synapse
        tables and the generators' spike lists by time bin.
        """
        values: dict[tuple[str, int], int] = {}
        for j, op in enumerate(self.ops):
            k = op.kernel
            if k is not None and k.scalar_kind == "time" and k.n_scalars:
                table = np.zeros((plan.n_steps, k.n_scalars))
                for step in range(plan.start, plan.start + plan.n_steps):
                    if step % op.every == 0:
                        table[step - plan.start] = np.frombuffer(k.scalars(S, R, *op.time(step)), dtype=np.float64)
                keep.append(table)
                values["scal", j], values["sstride", j] = table.ctypes.data, k.n_scalars
            elif k is not None:
                scal = k.scalars(S, R, *op.time(plan.start))
                keep.append(scal)
                values["scal", j] = ctypes.addressof(scal) if scal is not None else 0
            if isinstance(op, PathwayOp):
                values["ptr", j], values["syn", j], values["dl", j] = (
                    _addr(op.pointer),
                    _addr(op.c_order),
                    _addr(op.c_delays),
                )
            if isinstance(op, SpikeGeneratorOp):
                bins = sorted(op.by_bin)
                nbins = (bins[-1] + 1) if bins else 0
                counts = np.zeros(nbins + 1, dtype=np.int64)
                for b in bins:
                    counts[b + 1] = len(op.by_bin[b])
                ptr = torch.as_tensor(np.cumsum(counts))
                idx = torch.as_tensor(
                    np.concatenate([op.by_bin[b] for b in bins]) if bins else np.zeros(1, np.int64)
                ).to(torch.int64)
                keep += [ptr, idx]
                values["gen_ptr", j], values["gen_idx", j] = _addr(ptr), _addr(idx)
        return values

    def _row_values(self, S, B: int, keep: list) -> dict:
        """``(what, which) -> address`` of what is a loop's own: the kernels' arrays (the rows of ``S``) and
        the event buffers of ``B`` trials.
        """
        values: dict[tuple[str, int], int] = {}
        for j, op in enumerate(self.ops):
            if op.kernel is not None:
                arrays = op.kernel.pointers(S)
                keep.append(arrays)
                values["arr", j] = ctypes.addressof(arrays)
        for e, size in enumerate(self.writer.event_sizes):
            cond = torch.zeros(B * size, dtype=torch.uint8)
            sb, si = torch.zeros(B * size, dtype=torch.int64), torch.zeros(B * size, dtype=torch.int64)
            keep += [cond, sb, si]
            values["cond", e], values["sb", e], values["si", e] = _addr(cond), _addr(sb), _addr(si)
        return values

    def _load_rings(self, B: int, values: dict, keep: list, trial: int | None = None) -> dict:
        """Every pathway's spike ring as C buffers, filled from the operation's ring (:meth:`PathwayOp._push`);
        for one trial ``trial``, its spikes only, as trial 0.
        """
        rings = {}
        for j, op in enumerate(self.ops):
            if not isinstance(op, PathwayOp):
                continue
            cap = B * self.writer.event_sizes[self.writer.events[op.eventspace]]
            sb = torch.zeros(op.L, max(cap, 1), dtype=torch.int64)
            si = torch.zeros(op.L, max(cap, 1), dtype=torch.int64)
            counts = torch.zeros(op.L, dtype=torch.int64)
            for slot, nz in enumerate(op.nz_hist or ()):
                if nz is not None and trial is not None:
                    mine = nz[0] == trial
                    nz = (torch.zeros_like(nz[0][mine]), nz[1][mine])
                if nz is not None and nz[0].shape[0]:
                    n = int(nz[0].shape[0])
                    sb[slot, :n], si[slot, :n], counts[slot] = nz[0], nz[1], n
            sbs = torch.as_tensor([_addr(sb[s]) for s in range(op.L)], dtype=torch.int64)
            sis = torch.as_tensor([_addr(si[s]) for s in range(op.L)], dtype=torch.int64)
            keep += [sbs, sis]
            values["counts", j], values["sbs", j], values["sis", j] = _addr(counts), _addr(sbs), _addr(sis)
            rings[j] = (counts, sb, si)
        return rings

    def _spike_buffers(self, B: int, n_steps: int, values: dict) -> list[list]:
        """``[steps, b, i, capacity]`` per spiking group: room for a few steps' worth of spikes (grown on need)."""
        out = []
        for s, (e, _key) in enumerate(self.writer.spiking):
            most = B * self.writer.event_sizes[e]
            cap = max(most, min(n_steps * most, max(1 << 16, 8 * most)), 1)
            bufs = [torch.empty(cap, dtype=torch.int64) for _ in range(3)] + [cap]  # written before read
            out.append(bufs)
            values["out_steps", s], values["out_b", s], values["out_i", s] = (_addr(t) for t in bufs[:3])
        return out

    def _grow(self, B: int, out: list, integers, values: dict) -> None:
        """Twice the room for every spiking group whose next step might not fit."""
        for slot, (what, s) in enumerate(self.writer.layout.integers):
            if what != "outcnt":
                continue
            count, cap = integers[slot], out[s][3]
            most = B * self.writer.event_sizes[self.writer.spiking[s][0]]
            if count + most > cap:
                new = 2 * cap + most
                for q in range(3):
                    t = torch.empty(new, dtype=torch.int64)
                    t[:count] = out[s][q][:count]
                    out[s][q] = t
                out[s][3] = new
                values["out_steps", s], values["out_b", s], values["out_i", s] = (_addr(t) for t in out[s][:3])
        for slot, (what, s) in enumerate(self.writer.layout.integers):
            if what == "outcap":
                integers[slot] = out[s][3]

    def _records(self, S, records, B: int, n_steps: int, keep: list) -> tuple:
        """The loop's record arguments, and ``{record key: Tensor[T, B, n]}`` they fill."""
        nrec = len(records.keys)
        dst, src = (ctypes.c_void_p * max(nrec, 1))(), (ctypes.c_void_p * max(nrec, 1))()
        idx = (ctypes.c_void_p * max(nrec, 1))()
        info = (ctypes.c_int64 * max(4 * nrec, 1))()
        filled = {}
        for r, (rk, key) in enumerate(records.keys.items()):
            v = S[key].contiguous()
            n = v.shape[-1]
            index = records.index.get(rk)
            nsel = int(index.shape[0]) if index is not None else n
            t = torch.empty(n_steps, B, nsel, dtype=v.dtype)
            keep += [v, t]
            dst[r], src[r] = _addr(t), _addr(v)
            if index is not None:
                index = index.to(torch.int64).contiguous()
                keep.append(index)
                idx[r] = _addr(index)
            info[4 * r : 4 * r + 4] = [n, int(v.dim() == 2), nsel, v.element_size()]
            filled[rk] = t
        keep += [dst, src, idx, info]
        return nrec, dst, src, info, idx, filled

    def _table(self, values: dict):
        layout = self.writer.layout.pointers
        table = (ctypes.c_void_p * max(len(layout), 1))()
        for slot, what in enumerate(layout):
            table[slot] = values[what]
        return table

    def _hand_back(self, rings: dict, integers, out: list, filled: dict, out_record) -> None:
        """The rings back to the operations, the spikes and records into the run's record."""
        layout = self.writer.layout.integers
        for j, (counts, sb, si) in rings.items():
            op = self.ops[j]
            op.reset_state()
            op._push(None)  # the ring's Python side, empty
            op.pos = int(integers[layout.index(("pos", j))])
            c_counts, sbs, sis = op._ring
            for slot in range(op.L):
                n = int(counts[slot])
                if n:
                    nz = (sb[slot, :n], si[slot, :n])
                    op.nz_hist[slot] = nz
                    c_counts[slot], sbs[slot], sis[slot] = n, nz[0].data_ptr(), nz[1].data_ptr()
        groups = out_record.spike_groups
        for s, (_e, key) in enumerate(self.writer.spiking):
            n = int(integers[layout.index(("outcnt", s))])
            if n and key in groups:
                steps, b, i = (t[:n] for t in out[s][:3])
                out_record.sparse[groups[key].name].append((steps.numpy(), b, i))
        for rk, t in filled.items():
            out_record.states[rk] = t


__all__ = ["RUN_FUNCTION", "RunLoop", "RunLoopWriter", "why_not"]
