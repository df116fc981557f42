"""Training: :func:`fit` -> :class:`FittedModel`, splits, experiments, run directories.

Importing this package imports torch.
"""

# Imported eagerly on purpose: ``fit`` is also the name of a submodule, and a lazy
# attribute would be shadowed by the submodule once anything imports it.
from .fit import fit
from .fitted import FittedModel
from .settings import TrainSettings

__all__ = ["fit", "FittedModel", "TrainSettings"]
