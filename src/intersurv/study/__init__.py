"""Studies: one audit configuration over several cohorts, one pool of units, one combined report."""

from .cohorts import StudyCohort
from .run import run_study

__all__ = ["StudyCohort", "run_study"]
