"""Output scales g: what of the model is explained (docs/design.md section 2).

* ``log_risk``: h(x), the additive scale of a Cox model (the default);
* ``risk``: exp(h(x));
* ``survival@t``: S(t|x) = S0(t)^exp(h(x)), with the model's Breslow baseline;
* ``rmst@tau``: the restricted mean survival time, the area under S(.|x) on
  [0, tau], with the model's Breslow baseline.

t and tau are in the cohort's time unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..errors import IntersurvError

OUTPUTS = ("log_risk", "risk", "survival@<t>", "rmst@<tau>")


@dataclass(frozen=True)
class OutputScale:
    """A parsed output scale: ``kind`` in log_risk/risk/survival/rmst and its time."""

    kind: str
    time: float | None = None

    @property
    def name(self) -> str:
        return self.kind if self.time is None else f"{self.kind}@{self.time:g}"

    @property
    def risk_sign(self) -> float:
        """+1 when a larger output means a higher risk (log_risk, risk), else -1."""
        return 1.0 if self.kind in ("log_risk", "risk") else -1.0


def parse_output(output: str) -> OutputScale:
    """Parse ``"log_risk"``, ``"risk"``, ``"survival@<t>"`` or ``"rmst@<tau>"``."""
    if output in ("log_risk", "risk"):
        return OutputScale(output)
    kind, sep, value = output.partition("@")
    if kind in ("survival", "rmst") and sep:
        try:
            t = float(value)
        except ValueError:
            t = float("nan")
        if np.isfinite(t) and t > 0:
            return OutputScale(kind, t)
        raise IntersurvError(f"output {output!r}: the time after '@' must be a number > 0")
    raise IntersurvError(f"output {output!r}: expected one of {', '.join(OUTPUTS)}")


def _baseline_of(model: Any, what: str) -> Any:
    baseline = getattr(model, "baseline", None)
    if baseline is None:
        raise IntersurvError(f"output {what!r} needs a model with a Breslow baseline (model.baseline); "
                             "this model has none")
    return baseline


def make_transform(model: Any, scale: OutputScale) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping ``(n,)`` log-risks to the ``(n, 1)`` outputs on ``scale``."""
    if scale.kind == "log_risk":
        return lambda h: h[:, None]
    if scale.kind == "risk":
        return lambda h: np.exp(h)[:, None]
    baseline = _baseline_of(model, scale.name)
    if scale.kind == "survival":
        times = np.array([scale.time])
        return lambda h: np.asarray(baseline.survival(h, times), dtype=np.float64).reshape(len(h), 1)
    return lambda h: np.asarray(baseline.rmst(h, scale.time), dtype=np.float64).reshape(len(h), 1)


def survival_transform(model: Any, times: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping ``(n,)`` log-risks to ``(n, T)`` survival probabilities at ``times``."""
    baseline = _baseline_of(model, "survival@t")
    times = np.asarray(times, dtype=np.float64)
    return lambda h: np.asarray(baseline.survival(h, times), dtype=np.float64).reshape(len(h), len(times))
