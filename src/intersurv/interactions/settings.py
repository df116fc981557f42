"""How a model is explained: :class:`ExplainSettings`, the one home of every default and check.

The command line (``intersurv explain``, ``audit``, ``demo``), the audit's
TOML ``[explain]`` table, the audit's per-unit step, its additive null, the
results code and :func:`intersurv.explain` all take their defaults from here,
and every value is checked here, once, when the settings are built (before a
run directory is written).

* ``masker``: what replaces the modalities outside a coalition (:mod:`.maskers`);
* ``output``: the scale explained, ``log_risk``, ``risk``, ``survival@<t>`` or
  ``rmst@<tau>`` (:mod:`.outputs`);
* ``aggregation``: the global score (:mod:`.aggregation`);
* ``background``: K, the reference patients averaged by the ``marginal`` masker;
* ``bootstrap``: resamples of the explained patients for the CIs (0: none);
* ``time_points``: the grid of the audit's interaction-over-time curve (0: none);
* ``null_refits``: refits per audit unit on outcomes without interaction
  (:mod:`intersurv.audit.additive_null`; 0: off);
* ``groups``: feature groups explained as players besides the modalities,
  ``{name: ["modality:column", ...]}`` as read by
  :func:`~.groups.read_groups` from ``--groups FILE`` (None: none);
* ``group_test``: two players of ``groups`` whose interaction the cohort-level
  additivity test checks (None: none).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import IntersurvError
from .aggregation import AGGREGATIONS, check_aggregation
from .groups import Grouping, check_grouping
from .maskers import MASKERS
from .outputs import parse_output


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class ExplainSettings:
    """The explanation settings (module docstring); invalid values raise :class:`IntersurvError`."""

    masker: str = "mean"
    output: str = "log_risk"
    aggregation: str = "abs"
    background: int = 100
    bootstrap: int = 200
    time_points: int = 9
    null_refits: int = 0
    groups: Grouping | None = None
    group_test: list[str] | None = None

    def __post_init__(self) -> None:
        if self.masker not in MASKERS:
            raise IntersurvError(f"masker {self.masker!r} is not one of {', '.join(MASKERS)}")
        if self.aggregation not in AGGREGATIONS:
            raise IntersurvError(f"aggregation {self.aggregation!r} is not one of {', '.join(AGGREGATIONS)}")
        if not isinstance(self.output, str):
            raise IntersurvError(f"output must be a string, not {self.output!r}")
        parse_output(self.output)
        for key in ("background", "bootstrap", "time_points", "null_refits"):
            if not _is_count(getattr(self, key)):
                raise IntersurvError(f"{key} must be an integer >= 0, not {getattr(self, key)!r}")
        if self.masker == "marginal" and self.background < 1:
            raise IntersurvError(f"background must be >= 1 reference patients for the marginal masker, "
                                 f"not {self.background}")
        if self.groups is not None:
            object.__setattr__(self, "groups", check_grouping(self.groups, "groups"))
        if self.group_test is not None:
            test = self.group_test
            if (self.groups is None or not isinstance(test, (list, tuple)) or len(test) != 2
                    or len(set(test)) != 2 or not all(isinstance(g, str) for g in test)):
                raise IntersurvError(f"group_test must name two different players of groups, not {test!r}")
            object.__setattr__(self, "group_test", [str(g) for g in test])

    def check_modalities(self, n_modalities: int) -> "ExplainSettings":
        """``self``, once checked against a cohort of ``n_modalities`` (swift2026 needs exactly 2)."""
        check_aggregation(self.aggregation, n_modalities)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "explain") -> "ExplainSettings":
        """Build from a dict (a TOML ``[explain]`` table); unknown keys are errors naming ``source``."""
        if not isinstance(data, dict):
            raise IntersurvError(f"{source}: must be a table")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise IntersurvError(f"{source}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
        try:
            return cls(**data)
        except IntersurvError as exc:
            raise IntersurvError(f"{source}: {exc}") from None


#: The defaults, for function signatures and help texts.
DEFAULT_EXPLAIN = ExplainSettings()
