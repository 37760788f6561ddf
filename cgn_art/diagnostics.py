"""Moved to :mod:`cgn_art.runtime.diagnostics`; this name stays so that old imports keep working."""
from cgn_art.runtime.diagnostics import trace_native_crashes

__all__ = ["trace_native_crashes"]
