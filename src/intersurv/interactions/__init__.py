"""InterSHAP for survival models: exact cross-modal interaction (docs/design.md section 2).

* :func:`explain` -> :class:`Explanation` (matrix, Shapley values, scores,
  shares, variance decomposition, cost of additivity, bootstrap CIs);
* :func:`interaction_over_time`: the interaction share of survival@t over t;
* :class:`ExplainSettings`: the defaults and checks of every explanation setting;
* coalition values are ``(N, 2^M)`` arrays in the bit order of :mod:`.coalitions`.
"""

from .aggregation import AGGREGATIONS
from .explain import Explanation, explain
from .maskers import MASKERS
from .outputs import OUTPUTS
from .over_time import interaction_over_time
from .settings import ExplainSettings

__all__ = ["AGGREGATIONS", "MASKERS", "OUTPUTS", "ExplainSettings", "Explanation", "explain",
           "interaction_over_time"]
