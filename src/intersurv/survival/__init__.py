"""Survival core: the Cox partial-likelihood loss, the Breslow baseline hazard, a numpy Cox
fit (:mod:`.cox`) and Kaplan-Meier RMST (:mod:`.km`).

Importing this package does not import torch: :func:`cox_nll` (the only torch
code) is loaded on first use.
"""

from typing import TYPE_CHECKING, Any

from .baseline import BreslowBaseline

if TYPE_CHECKING:
    from .loss import cox_nll

__all__ = ["BreslowBaseline", "cox_nll"]


def __getattr__(name: str) -> Any:
    if name == "cox_nll":
        from .loss import cox_nll

        return cox_nll
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
