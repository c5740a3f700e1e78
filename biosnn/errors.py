"""Exceptions raised by biosnn.

Every error names what is wrong (the parameter, the object, the construct, the file) so the user can fix
it without reading biosnn's source. None of them leaves the user's objects half-changed: functions
validate their input before they touch any state.
"""

from __future__ import annotations


class BiosnnError(Exception):
    """Base class of every error biosnn raises on purpose."""


class UnknownNameError(BiosnnError, KeyError):
    """A name (rule, circuit, surrogate, method, data set ...) that no registry knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ParameterError(BiosnnError, ValueError):
    """A parameter with an invalid value (out of range, NaN, wrong type)."""


class UnitError(ParameterError):
    """A parameter given in the wrong physical units (or without units where units are required)."""


class UnsupportedFeatureError(BiosnnError, NotImplementedError):
    """A Brian2 construct that biosnn cannot (yet) translate; names the object and the construct."""


class ShapeError(BiosnnError, ValueError):
    """A tensor or array whose shape does not fit where it is used."""


class NonFiniteError(BiosnnError, FloatingPointError):
    """NaN or infinite values where finite numbers are required (weights, losses, states)."""


class CheckpointError(BiosnnError):
    """A checkpoint that is corrupt, truncated, or written for a different model/configuration."""


class DatasetNotFoundError(BiosnnError, FileNotFoundError):
    """A data set that is not on disk (biosnn never downloads at run time)."""


class RunFolderError(BiosnnError):
    """A results directory that cannot be used: in use by another run (locked), or not writable."""


class MemoryBudgetError(BiosnnError, MemoryError):
    """A computation that would need more memory than the machine has (raised before it gets there)."""
