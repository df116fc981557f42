"""Discrimination and calibration metrics for a log-risk model, with bootstrap CIs.

All metrics are computed by scikit-survival on float64 numpy arrays; higher
log-risk means shorter survival. Times are in the cohort's time unit.

* Harrell's C: concordant / comparable pairs (pairs (i, j) with t_i < t_j and
  an event at t_i); tied log-risks count 1/2.
* Uno's C: IPCW concordance with weights 1 / G(t_i)^2, G the Kaplan-Meier of
  the *training* censoring distribution, truncated at tau = the largest
  horizon (which lies below the last training time).
* Brier score at horizon t: IPCW mean of (1{T > t} - S(t | x))^2 with S from
  the Breslow baseline of the training log-risks (Graf et al., 1999).
* Integrated Brier score: the Brier score integrated by the trapezoid rule on a
  dense grid of 100 equally spaced times from the first test time to the
  largest horizon, divided by the length of that interval.
* Cumulative/dynamic AUC at horizon t: cases T <= t with an event (IPCW
  weighted), controls T > t.

A horizon t is allowed when ``min(test time) <= t < min(max(test time),
max(train time))``; test patients followed up beyond that upper limit are
treated as censored there, which leaves every metric above unchanged (no
horizon or tau reaches it) and keeps the training censoring weights positive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .cohort import MONTHS_PER_TIME_UNIT
from .errors import IntersurvError

if TYPE_CHECKING:
    from .survival import BreslowBaseline

log = logging.getLogger("intersurv")

#: Default horizons in months (those of the glioma study).
DEFAULT_HORIZON_MONTHS: tuple[float, ...] = (12.0, 36.0, 60.0)
_IBS_GRID_POINTS = 100


def _arrays(log_risk: ArrayLike, time: ArrayLike, event: ArrayLike,
            what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h = np.asarray(log_risk, dtype=np.float64).reshape(-1)
    t = np.asarray(time, dtype=np.float64).reshape(-1)
    e = np.asarray(event).reshape(-1).astype(bool)
    if not (h.size == t.size == e.size):
        raise IntersurvError(f"{what}: log_risk, time and event lengths differ ({h.size}, {t.size}, {e.size})")
    if not (np.all(np.isfinite(h)) and np.all(np.isfinite(t))):
        raise IntersurvError(f"{what}: log_risk and time must be finite")
    return h, t, e


def _surv(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    from sksurv.util import Surv

    return Surv.from_arrays(event=event, time=time)


def harrell_c(log_risk: ArrayLike, time: ArrayLike, event: ArrayLike) -> float:
    """Harrell's concordance index of log-risks (higher = shorter survival), tied risks counting 1/2."""
    from sksurv.exceptions import NoComparablePairException
    from sksurv.metrics import concordance_index_censored

    h, t, e = _arrays(log_risk, time, event, "harrell_c")
    if not e.any():
        raise IntersurvError("harrell_c: no events, the concordance index is undefined")
    try:
        return float(concordance_index_censored(e, t, h)[0])
    except NoComparablePairException:
        raise IntersurvError("harrell_c: no comparable pairs, the concordance index is undefined") from None


def _allowed_upper(train_time: np.ndarray, test_time: np.ndarray) -> float:
    return float(min(test_time.max(), train_time.max()))


def default_horizons(time_unit: str, train_time: ArrayLike, test_time: ArrayLike,
                     test_event: ArrayLike | None = None) -> list[float]:
    """12, 36 and 60 months in ``time_unit``, keeping those inside the allowed range of :func:`evaluate`.

    With ``test_event``, a horizon with no test event at or before it (where
    AUC and Brier are undefined) is dropped too. Each dropped horizon is
    logged (logger ``"intersurv"``, level INFO), once per horizon and reason
    inside :func:`horizon_drops_logged_once`. None kept is an error that says so.
    """
    if time_unit not in MONTHS_PER_TIME_UNIT:
        raise IntersurvError(f"time unit {time_unit!r} is not one of {', '.join(MONTHS_PER_TIME_UNIT)}")
    tr = np.asarray(train_time, dtype=np.float64).reshape(-1)
    te = np.asarray(test_time, dtype=np.float64).reshape(-1)
    lo, hi = float(te.min()), _allowed_upper(tr, te)
    first_event = (float(te[np.asarray(test_event).astype(bool).reshape(-1)].min(initial=np.inf))
                   if test_event is not None else -np.inf)
    kept = []
    for months in DEFAULT_HORIZON_MONTHS:
        t = months / MONTHS_PER_TIME_UNIT[time_unit]
        if not lo <= t < hi:
            _log_drop(months, t, time_unit, "outside", f"outside the follow-up [{lo:g}, {hi:g}) {time_unit}")
        elif t < first_event:
            _log_drop(months, t, time_unit, "no event", "no test event at or before it")
        else:
            kept.append(t)
    if not kept:
        raise IntersurvError(
            f"none of the default horizons ({', '.join(f'{m:g}' for m in DEFAULT_HORIZON_MONTHS)} months) lies "
            f"inside the test follow-up [{lo:g}, {hi:g}) {time_unit} after a test event; give --horizons")
    return kept


_drops_seen: ContextVar[set[tuple[float, str]] | None] = ContextVar("horizon_drops_seen", default=None)


@contextmanager
def horizon_drops_logged_once() -> Iterator[None]:
    """Within the block (a run of many units), log each dropped default horizon once, not per unit."""
    token = _drops_seen.set(set())
    try:
        yield
    finally:
        _drops_seen.reset(token)


def _log_drop(months: float, t: float, time_unit: str, reason: str, why: str) -> None:
    """Log a dropped horizon once per (horizon, ``reason``) inside :func:`horizon_drops_logged_once`;
    ``why`` is the message (its interval may differ between units)."""
    seen = _drops_seen.get()
    key = (months, reason)
    if seen is not None:
        if key in seen:
            return
        seen.add(key)
    log.info("horizon %g months (%g %s) dropped: %s", months, t, time_unit, why)


def _check_horizons(horizons: Sequence[float], train_time: np.ndarray, test_time: np.ndarray) -> np.ndarray:
    hz = np.asarray(list(horizons), dtype=np.float64).reshape(-1)
    if hz.size == 0:
        raise IntersurvError("evaluate: no horizons given (none of the defaults fit the follow-up?)")
    lo, hi = float(test_time.min()), _allowed_upper(train_time, test_time)
    for t in hz:
        if not (np.isfinite(t) and lo <= t < hi):
            raise IntersurvError(f"horizon {t:g} is outside the follow-up: allowed range is [{lo:g}, {hi:g})")
    if np.unique(hz).size != hz.size:
        raise IntersurvError(f"horizons must be distinct, got {[f'{t:g}' for t in hz]}")
    if hz.max() <= lo:
        raise IntersurvError(f"the largest horizon must exceed the first test time {lo:g} "
                             "(the integrated Brier score needs an interval)")
    return np.sort(hz)  # scikit-survival sorts the times it returns scores for


def _point(h: np.ndarray, t: np.ndarray, e: np.ndarray, baseline: BreslowBaseline, surv_train: np.ndarray,
           hz: np.ndarray, upper: float) -> dict[str, float]:
    """All metrics for one test sample; horizons already validated against ``upper``."""
    from sksurv.metrics import (brier_score, concordance_index_ipcw, cumulative_dynamic_auc,
                                integrated_brier_score)

    beyond = t >= upper
    surv_test = _surv(np.where(beyond, upper, t), e & ~beyond)
    out = {"c_harrell": harrell_c(h, t, e),
           "c_uno": float(concordance_index_ipcw(surv_train, surv_test, h, tau=float(hz.max()))[0])}
    _, brier = brier_score(surv_train, surv_test, baseline.survival(h, hz), hz)
    grid = np.linspace(float(t.min()), float(hz.max()), _IBS_GRID_POINTS)
    out["ibs"] = float(integrated_brier_score(surv_train, surv_test, baseline.survival(h, grid), grid))
    auc, _ = cumulative_dynamic_auc(surv_train, surv_test, h, hz)
    for k, th in enumerate(hz):
        out[f"brier@{th:g}"] = float(brier[k])
    for k, th in enumerate(hz):
        out[f"auc@{th:g}"] = float(auc[k])
    return out


def evaluate(log_risk: ArrayLike, time: ArrayLike, event: ArrayLike, *, train_log_risk: ArrayLike,
             train_time: ArrayLike, train_event: ArrayLike, horizons: Sequence[float],
             bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
    """Metrics of test log-risks, as a flat dict.

    Keys: ``c_harrell``, ``c_uno``, ``ibs``, ``brier@<t>`` and ``auc@<t>`` for each
    horizon t (formatted ``f"{t:g}"``); with ``bootstrap = B > 0`` also
    ``<key>_ci = (low, high)``, the 2.5 and 97.5 percentiles over B resamples of
    the test patients (numpy Generator seeded with ``seed``). Resamples without
    events, whose follow-up does not cover the horizons, or without an event
    before a horizon are redrawn (at most 20 B draws in all). The training
    arrays give the Breslow baseline (for the survival probabilities) and the
    censoring Kaplan-Meier (for the IPCW weights); see the module docstring.
    """
    from .survival import BreslowBaseline

    h, t, e = _arrays(log_risk, time, event, "evaluate (test)")
    h_tr, t_tr, e_tr = _arrays(train_log_risk, train_time, train_event, "evaluate (train)")
    if not e.any():
        raise IntersurvError("evaluate: the test patients have no events")
    hz = _check_horizons(horizons, t_tr, t)
    for th in hz:
        if not np.any(e & (t <= th)):
            raise IntersurvError(f"horizon {th:g}: no test event at or before it, AUC and Brier are undefined")
    if bootstrap < 0:
        raise IntersurvError(f"bootstrap must be >= 0, got {bootstrap}")
    baseline = BreslowBaseline.fit(h_tr, t_tr, e_tr)
    surv_train = _surv(t_tr, e_tr)
    upper = _allowed_upper(t_tr, t)
    result: dict[str, Any] = _point(h, t, e, baseline, surv_train, hz, upper)
    if bootstrap == 0:
        return result

    rng = np.random.default_rng(seed)
    samples: list[dict[str, float]] = []
    draws = 0
    while len(samples) < bootstrap:
        if draws >= 20 * bootstrap:
            raise IntersurvError(f"bootstrap: only {len(samples)} of {draws} resamples were usable "
                                 "(too few test events before the horizons)")
        draws += 1
        idx = rng.integers(0, t.size, t.size)
        tb, eb = t[idx], e[idx]
        # an event at or before every horizon and follow-up beyond the last one imply comparable pairs
        usable = (tb.min() <= hz.min() and tb.min() < hz.max() < tb.max()
                  and all(np.any(eb & (tb <= th)) for th in hz))
        if usable:
            samples.append(_point(h[idx], tb, eb, baseline, surv_train, hz, upper))
    for key in list(result):
        values = np.array([s[key] for s in samples])
        low, high = np.percentile(values, [2.5, 97.5])
        result[f"{key}_ci"] = (float(low), float(high))
    return result
