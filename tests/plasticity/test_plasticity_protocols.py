"""The Brian2 spike-train protocols: input checks (before anything is built) and what they measure."""

from __future__ import annotations

import numpy as np
import pytest
from biosnn.plasticity import ClopathRule, StdpAdditive
from biosnn.plasticity.protocols import measure_window, pairing_protocol, pairing_trains, run_spike_trains
from brian2 import Hz, ms

from biosnn.errors import ParameterError, ShapeError, UnitError, UnsupportedFeatureError


def test_pairing_trains_are_regular_and_offset():
    pre, post = pairing_trains(20 * Hz, -10 * ms, 5)
    np.testing.assert_allclose(np.diff(pre), 0.05)
    np.testing.assert_allclose(post - pre, -0.01)
    assert pre.min() > 0 and post.min() > 0


def test_protocol_input_errors():
    rule = StdpAdditive()
    with pytest.raises(UnsupportedFeatureError, match="'v'"):
        run_spike_trains(ClopathRule(), [[1] * ms], [[2] * ms], w_init=0.5, duration=5 * ms)
    with pytest.raises(ShapeError):
        run_spike_trains(rule, [[1] * ms, [2] * ms], [[2] * ms], w_init=0.5, duration=5 * ms)
    with pytest.raises(ParameterError, match="one time step"):
        run_spike_trains(rule, [[1.0, 1.01] * ms], [[2] * ms], w_init=0.5, duration=5 * ms)
    with pytest.raises(ParameterError, match="duration"):
        run_spike_trains(rule, [[1] * ms], [[20] * ms], w_init=0.5, duration=5 * ms)
    with pytest.raises(UnitError, match="frequency"):
        pairing_trains(20 * ms, 10 * ms, 5)
    with pytest.raises(ParameterError, match="n_pairs"):
        pairing_trains(20 * Hz, 10 * ms, 0)
    with pytest.raises(ShapeError, match="delta_t"):
        pairing_protocol(rule, [10, 20, 30] * Hz, [10, -10] * ms)
    with pytest.raises(ParameterError, match="t_first"):
        measure_window(rule, [-200] * ms, w_init=0.5)


def test_pairing_protocol_counts_every_pair():
    # far-apart pairs do not interact: n_pairs times the single-pair window
    rule = StdpAdditive(A_plus=0.01, A_minus=0.01, w_max=10.0)
    dw = pairing_protocol(rule, [2] * Hz, 5 * ms, n_pairs=4, w_init=5.0, dt=0.5 * ms)
    single = float(rule.window(5 * ms))
    assert dw[0] == pytest.approx(4 * single, rel=1e-6)
