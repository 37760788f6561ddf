"""Moved to :mod:`cgn_art.evaluate` (judges, metrics, the judge cache); this name stays so that old
imports keep working."""
from cgn_art.evaluate import *  # noqa: F401,F403
from cgn_art.evaluate import __all__  # noqa: F401
