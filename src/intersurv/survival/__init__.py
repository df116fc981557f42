"""Survival core: the Cox partial-likelihood loss and the Breslow baseline hazard."""

from .baseline import BreslowBaseline
from .loss import cox_nll

__all__ = ["BreslowBaseline", "cox_nll"]
