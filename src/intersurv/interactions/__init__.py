"""InterSHAP for survival models: exact cross-modal interaction (DESIGN.md section 2).

* :func:`explain` -> :class:`Explanation` (matrix, Shapley values, scores,
  shares, variance decomposition, cost of additivity, bootstrap CIs);
* :func:`interaction_over_time`: the interaction share of survival@t over t;
* coalition values are ``(N, 2^M)`` arrays in the bit order of :mod:`.coalitions`.
"""

from .aggregation import AGGREGATIONS
from .explain import Explanation, explain
from .maskers import MASKERS
from .outputs import OUTPUTS
from .over_time import interaction_over_time

__all__ = ["AGGREGATIONS", "MASKERS", "OUTPUTS", "Explanation", "explain", "interaction_over_time"]
