"""BrainPy's CUBA (the reference of ``bench/twin_scaling.py --brainpy-python ...``), run in BrainPy's own interpreter.

The network of ``bench/twin_vs_brian2.cuba``: N LIF neurons (80 % excitatory), ``tau = 20 ms``, rest -49 mV,
threshold -50 mV, reset -60 mV, refractory 5 ms, current-based exponential synapses (5 ms excitatory,
10 ms inhibitory) incremented by 1.62 mV / -9 mV, each pair connected with probability p (BrainPy's own
draw: the same network in distribution, not the same synapses), dt 0.1 ms, initial voltages uniform in
[-60, -50] mV. Written with BrainPy 2.8's ``bp.dyn`` objects (``LifRef``, ``ProjAlignPostMg2``,
``EventCSRLinear``, ``Expon``, ``CUBA``) and run by ``bm.for_loop`` (JAX, jit-compiled, CPU).

Prints one JSON line: ``first_s`` (the first run: tracing and compiling included), ``run_s`` (a second
run of the same length after ``bp.reset_state``: warm, what the twin and Brian2 are compared with),
``spikes`` of that run, and the versions.

BrainPy needs JAX and Numba, which biosnn's pinned environment does not hold; give it an interpreter of its
own (``python3.11 -m venv .venv-brainpy && .venv-brainpy/bin/pip install "brainpy>=2.8,<2.9" "jax[cpu]"
numba``). Usage: ``.venv-brainpy/bin/python bench/brainpy_cuba.py --n 4000 --p 0.02 --duration 0.5``.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="neurons")
    parser.add_argument("--p", type=float, default=0.02, help="connection probability")
    parser.add_argument("--duration", type=float, default=0.5, help="biological time per run, seconds")
    args = parser.parse_args()

    import brainpy as bp
    import brainpy.math as bm
    import jax

    bm.set_platform("cpu")
    bm.set_dt(0.1)  # ms
    n, p = args.n, args.p
    ne, ni = int(0.8 * n), n - int(0.8 * n)
    we, wi = 60 * 0.27 / 10, -20 * 4.5 / 10  # mV, as twin_vs_brian2.cuba

    def projection(pre, post, n_pre, n_post, w, tau):
        return bp.dyn.ProjAlignPostMg2(
            pre=pre,
            delay=None,
            comm=bp.dnn.EventCSRLinear(bp.conn.FixedProb(p, pre=n_pre, post=n_post, seed=1), w),
            syn=bp.dyn.Expon.desc(size=n_post, tau=tau),
            out=bp.dyn.CUBA.desc(),
            post=post,
        )

    class CUBA(bp.DynSysGroup):
        def __init__(self):
            super().__init__()
            lif = dict(V_rest=-49.0, V_th=-50.0, V_reset=-60.0, tau=20.0, tau_ref=5.0)
            self.E = bp.dyn.LifRef(ne, V_initializer=bp.init.Uniform(-60.0, -50.0), **lif)
            self.I = bp.dyn.LifRef(ni, V_initializer=bp.init.Uniform(-60.0, -50.0), **lif)
            self.E2E = projection(self.E, self.E, ne, ne, we, 5.0)
            self.E2I = projection(self.E, self.I, ne, ni, we, 5.0)
            self.I2E = projection(self.I, self.E, ni, ne, wi, 10.0)
            self.I2I = projection(self.I, self.I, ni, ni, wi, 10.0)

        def update(self):
            self.E2E()
            self.E2I()
            self.I2E()
            self.I2I()
            self.E()
            self.I()
            return self.E.spike.sum() + self.I.spike.sum()

    model = CUBA()
    steps = int(round(args.duration / 1e-4))

    def run() -> float:
        counts = bm.for_loop(lambda i: model.step_run(i), bm.arange(steps), progress_bar=False)
        return float(counts.sum())  # waits for the result

    t0 = time.perf_counter()
    first_spikes = run()
    first = time.perf_counter() - t0
    bp.reset_state(model)
    t0 = time.perf_counter()
    spikes = run()
    warm = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "n": n,
                "p": p,
                "duration_s": args.duration,
                "first_s": first,
                "run_s": warm,
                "spikes": spikes,
                "spikes_first_run": first_spikes,
                "brainpy": bp.__version__,
                "jax": jax.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
