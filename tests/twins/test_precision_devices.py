"""float32 and other devices: the twin runs there (the GPU path is checked where a GPU is at hand)."""

from __future__ import annotations

import brian2 as b2
import numpy as np
import pytest
import torch
from brian2 import second

import biosnn
from tests.twins import models


def _spike_counts(result, group):
    return result.spike_trains[group].sum(0)[0].detach().cpu().numpy()


def test_float32_runs_and_stays_close_to_float64():
    objects, monitored = models.feedforward_ei(0.25)
    tw64 = biosnn.twin(b2.Network(*objects))
    tw32 = biosnn.twin(b2.Network(*objects), dtype=torch.float32)
    with torch.no_grad():
        r64 = tw64.run(0.25 * second, record={"ff_pop": ["v"]})
        r32 = tw32.run(0.25 * second, record={"ff_pop": ["v"]})
    assert r32.states["ff_pop"]["v"].dtype == torch.float32
    assert tw32.parameter("ff_in", "w").dtype == torch.float32
    c64, c32 = _spike_counts(r64, "ff_pop"), _spike_counts(r32, "ff_pop")
    assert c64.sum() > 50
    # float32 rounding moves a few spikes by a step; the counts stay within 5 %
    assert abs(int(c32.sum()) - int(c64.sum())) <= 0.05 * c64.sum()
    # before the first spike the membrane traces agree to float32 precision
    v64, v32 = r64.states["ff_pop"]["v"][:30, 0], r32.states["ff_pop"]["v"][:30, 0]
    np.testing.assert_allclose(v32.double().numpy(), v64.numpy(), rtol=1e-5)


def test_native_torch_functions_agree_with_numpy_exact_mode_to_rounding():
    """exact=False uses PyTorch's own exp/log/...: same model, results equal to rounding (not bit-exact)."""
    objects, monitored = models.adex(0.2)
    exact = biosnn.twin(b2.Network(*objects))
    native = biosnn.twin(b2.Network(*objects), exact=False)
    with torch.no_grad():
        a = exact.run(0.05 * second, record={"adex": ["v", "w"]})
        b = native.run(0.05 * second, record={"adex": ["v", "w"]})
    np.testing.assert_allclose(b.states["adex"]["v"].numpy(), a.states["adex"]["v"].numpy(), rtol=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here (CI runs CPU only)")
def test_gpu_matches_cpu_statistics():
    objects, monitored = models.feedforward_ei(0.25)
    cpu = biosnn.twin(b2.Network(*objects), batch_size=4)
    gpu = biosnn.twin(b2.Network(*objects), batch_size=4, device="cuda")
    assert gpu.parameter("ff_in", "w").device.type == "cuda"
    with torch.no_grad():
        rc = cpu.run(0.25 * second)
        rg = gpu.run(0.25 * second)
    cc, cg = rc.spike_trains["ff_pop"].sum(), rg.spike_trains["ff_pop"].sum().cpu()
    assert cc > 50 and abs(float(cc - cg)) <= 0.05 * float(cc)
    # gradients on the GPU
    res = gpu.run(0.05 * second)
    res.spike_trains["ff_pop"].sum().backward()
    assert torch.isfinite(gpu.parameter("ff_in", "w").grad).all()
