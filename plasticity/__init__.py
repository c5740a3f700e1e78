"""Plasticity library: one rule per module, each a small declarative object."""
