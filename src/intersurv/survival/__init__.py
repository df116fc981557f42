"""Survival core: the Cox partial-likelihood loss, the Breslow baseline hazard, a numpy Cox
fit (:mod:`.cox`), Kaplan-Meier RMST (:mod:`.km`) and outcomes drawn from a fitted Cox
model (:mod:`.outcomes`).

Importing this package does not import torch: :func:`cox_nll` is loaded on first
use, and :mod:`.stacked` (the loss of B stacked models) only when imported.
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
