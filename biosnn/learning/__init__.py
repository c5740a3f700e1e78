"""Learning: global surrogate-gradient training, local learners, and the EIHL hybrid controller.

* :class:`Trainer` (:mod:`~biosnn.learning.trainer`) -- STBP / BPTT with any ``torch.optim`` optimiser,
  encoders from :data:`biosnn.data.ENCODERS` and the losses of :data:`LOSSES` (spike counts, membrane).
* :class:`EIHLController` (:mod:`~biosnn.learning.eihl`) -- alternates global (STBP) and local
  (contraction + removal) periods, switched by connectivity through a policy from
  :data:`SWITCHING_POLICIES` (:mod:`~biosnn.learning.policies`).
* :mod:`~biosnn.learning.local` -- ``LocalLearner``: plasticity rules as local updates on PyTorch layers.
* :mod:`~biosnn.learning.checkpoint` -- atomic, checked checkpoints with every RNG state.
* :mod:`~biosnn.learning.run` -- :class:`RunConfig` and :func:`train`: a whole run (EIHL, STBP or
  local-only) with metrics, checkpoints, resume and plots; what ``biosnn train`` and ``biosnn demo`` use.
  A user's own data set: ``RunConfig(dataset="package.module:factory")``, the factory returning a
  :class:`DataBundle` (train and test sets, input shape, classes; see :func:`~biosnn.learning.run.load_data`),
  or ``train(config, data=DataBundle(...))`` with data already loaded.

Submodules are imported on first use, so ``import biosnn.learning`` stays light.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "Trainer": "trainer",
    "StepResult": "trainer",
    "EpochResult": "trainer",
    "enforce_masks": "trainer",
    "LOSSES": "losses",
    "SpikeLoss": "losses",
    "as_loss": "losses",
    "EIHLController": "eihl",
    "EIHL_DEFAULTS": "eihl",
    "GRANULARITIES": "eihl",
    "SWITCHING_POLICIES": "policies",
    "PhaseView": "policies",
    "ConnectivityPolicy": "policies",
    "AlternatePolicy": "policies",
    "GlobalOnlyPolicy": "policies",
    "as_policy": "policies",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "rng_state": "checkpoint",
    "set_rng_state": "checkpoint",
    "model_fingerprint": "checkpoint",
    "RunConfig": "run",
    "RunResult": "run",
    "METHODS": "run",
    "MODEL_BUILDERS": "run",
    "OPTIMIZERS": "run",
    "SYNTHETIC_DATASETS": "run",
    "load_data": "run",
    "train": "run",
    "read_config": "run",
    "DataBundle": "run",
    "PRESETS": "run",
    "layer_rules": "run",
    "dataset_factory": "run",
    "FiringRates": "metrics",
    "connectivity": "metrics",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f"biosnn.learning.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'biosnn.learning' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
