"""Circuit library: published E/I circuits as ordinary Brian2 objects in an explicit Network.

Every builder takes explicit keyword arguments with the paper's defaults (sizes, time constants, weights,
``dt``, ``seed``), validates them before building anything, and returns a :class:`Circuit`. The builders
are listed in :data:`CIRCUITS`:

============== ==============================================================================
name           circuit
============== ==============================================================================
cuba           Brette et al. 2007, benchmark 2 (current-based E/I network)
coba           Brette et al. 2007, benchmark 1 (conductance-based E/I network)
brunel2000     Brunel 2000 sparse balanced network with delays (regimes SR, AI, SI_fast, SI_slow)
song2000       Song, Miller & Abbott 2000: 1000 Poisson inputs with pair STDP onto one neuron
vogels2011     Vogels et al. 2011: inhibitory STDP restores E/I balance in a recurrent network
diehl_cook2015 Diehl & Cook 2015: unsupervised digit learning with STDP and lateral inhibition
============== ==============================================================================

>>> import brian2
>>> from biosnn.circuits import get_circuit
>>> c = get_circuit("cuba")(n_exc=400, n_inh=100)   # doctest: +SKIP
>>> c.run(100 * brian2.ms)                          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

from biosnn.circuits.base import Circuit

from biosnn.registry import Registry

CIRCUITS: Registry[Callable[..., Circuit]] = Registry("circuit")


def get_circuit(name: str) -> Callable[..., Circuit]:
    """The builder registered as ``name`` (raises :class:`~biosnn.errors.UnknownNameError` listing the names)."""
    return CIRCUITS[name]


def _register_builtin() -> None:
    from biosnn.circuits.brette2007 import coba, cuba
    from biosnn.circuits.brunel2000 import brunel2000
    from biosnn.circuits.diehl_cook import diehl_cook2015
    from biosnn.circuits.song2000 import song2000
    from biosnn.circuits.vogels2011 import vogels2011

    for name, builder in (
        ("cuba", cuba),
        ("coba", coba),
        ("brunel2000", brunel2000),
        ("song2000", song2000),
        ("vogels2011", vogels2011),
        ("diehl_cook2015", diehl_cook2015),
    ):
        CIRCUITS.register(name, builder)


_register_builtin()

__all__ = ["CIRCUITS", "Circuit", "get_circuit"]
