"""Is per-patient interaction prognostic? Survival statistics of local InterSHAP.

Given each test patient's local interaction value x_a (e.g. the local
InterSHAP of a fitted model), their follow-up (T_a, d_a) and the model's own
predicted log-risk h_a, :func:`prognostic_analysis` asks whether patients the
model treats with more cross-modal interaction fare differently, and whether
that survives adjustment for h (the obvious confounder: high-risk patients sit
far from the masking baseline, where a network is most non-linear).

Statistics (lifelines does the fitting and testing):

* **Cox hazard ratio per SD** of x: z_a = (x_a - mean x) / sd x with the sample
  SD (ddof = 1); HR = exp(beta_z) = exp(beta_x * sd x) from a Cox model with
  Efron ties. Three models side by side: ``unadjusted`` (z only),
  ``adjusted_for_risk`` (z + h) and ``adjusted_for_risk_and_covariates``
  (z + h + one-hot group + covariates; categorical columns one-hot with the
  first level in sorted order as reference, numeric columns as given,
  complete cases only). Each reports the Wald 95 % CI and p-value, a
  percentile bootstrap 95 % CI over patients, and the covariate columns used.
* **Permutation p-value** for the unadjusted HR: x is permuted against
  (T, d) ``permutations`` times; p = (1 + #{|beta*| >= |beta|}) / (1 + B).
* **Kaplan-Meier by median split** (high: x > median, low: x <= median) with
  the two-sample log-rank test; the KM curves are returned for plotting.
* **Quartile trend**: Cox regression on the quartile index 0..3 of x (HR per
  quartile step, Wald p), plus the global multivariate log-rank test across
  the quartiles (which ignores their order).
* **RMST difference** high minus low: area under each group's KM curve up to
  tau = the 90th percentile of all follow-up times, capped at the last time
  observed in either group; with bootstrap CI. Units: the cohort's time unit.

The bootstrap and permutation refits use a vectorised Newton-Raphson Cox fit
with Efron ties (:func:`intersurv.survival.cox.cox_fit`, tested against lifelines' CoxPHFitter),
because hundreds of lifelines fits per architecture would dominate an audit.
The per-SD unit is the SD of the full sample, held fixed across resamples.

Degenerate inputs (too few patients or events, constant x) give a dict of the
same shape with ``ok = False``, a ``reason`` and NaN numbers, never a crash.
So does an interaction that is zero up to floating-point error: when
max_a |x_a| <= ``NUMERICAL_ZERO`` * max(1, max_a |h_a|) (x a share such as local
InterSHAP, or a value on the log-risk scale), there is no interaction to
analyse: an additive model such as late fusion has a float32 local InterSHAP
that is rounding noise (~1e-8), and a test on that noise would be meaningless.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..errors import IntersurvError
from ..survival.cox import cox_fit
from ..survival.km import km_rmst

MIN_PATIENTS = 10
MIN_EVENTS = 5
RMST_QUANTILE = 0.9
#: Relative size below which a local interaction counts as float error: float32 models
#: carry ~1e-7 relative rounding per output, summed over the coalitions of the game.
NUMERICAL_ZERO = 1e-5


def zero_up_to_float_error(x: np.ndarray, log_risk: np.ndarray) -> bool:
    """``max |x| <= NUMERICAL_ZERO * max(1, max |log_risk|)``: ``x``, a part of the log-risk, is 0 but for
    float32 rounding."""
    return float(np.abs(x).max()) <= NUMERICAL_ZERO * max(1.0, float(np.abs(log_risk).max()))


log = logging.getLogger("intersurv")

_NAN = float("nan")
# lifelines' default stopping rule (precision 1e-7) leaves ~1e-5 relative error in the
# HR when covariates are on a large scale (age in years); the main fits are few, so tighten it
_LIFELINES_FIT_OPTIONS = {"precision": 1e-10}
_MODEL_NAMES = ("unadjusted", "adjusted_for_risk", "adjusted_for_risk_and_covariates")


def prognostic_analysis(
    local_interaction: Any,
    time: Any,
    event: Any,
    *,
    predicted_log_risk: Any,
    covariates: pd.DataFrame | None = None,
    group: Any = None,
    bootstrap: int = 200,
    permutations: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Prognostic statistics of per-patient interaction (see the module docstring).

    Parameters
    ----------
    local_interaction, time, event, predicted_log_risk:
        Arrays of length N: the per-patient interaction value, follow-up time
        (> 0, any unit), event indicator (1 = event) and the model's log-risk.
    covariates:
        Optional N-row table of clinical covariates for the fully adjusted model.
    group:
        Optional N group labels (site, grade, ...), one-hot encoded.
    bootstrap, permutations:
        Numbers of bootstrap resamples (CIs) and permutations (p-value); 0 skips.
    seed:
        Seed of the resampling; the result is deterministic given it.

    Returns
    -------
    A JSON-able dict: ``ok``, ``reason``, ``n``, ``n_events``, ``sd``,
    ``median``, ``models`` (the three Cox models side by side),
    ``km_median_split``, ``quartile_trend``, ``rmst`` and the settings.
    """
    x, t, d, h = _validate(local_interaction, time, event, predicted_log_risk)
    n = len(x)
    if bootstrap < 0 or permutations < 0:
        raise IntersurvError(f"bootstrap ({bootstrap}) and permutations ({permutations}) must be >= 0")
    extra, extra_reason = _adjustment_columns(n, covariates, group)
    out = _skeleton(n, int(d.sum()), bootstrap, permutations, seed)
    sd = float(np.std(x, ddof=1)) if n > 1 else _NAN
    out["sd"], out["median"] = sd, float(np.median(x))

    reason = None
    if n < MIN_PATIENTS:
        reason = f"too few patients ({n} < {MIN_PATIENTS})"
    elif d.sum() < MIN_EVENTS:
        reason = f"too few events ({int(d.sum())} < {MIN_EVENTS})"
    elif zero_up_to_float_error(x, h):
        reason = (f"no interaction to analyse: local interaction is zero up to float error "
                  f"(max |x| {float(np.abs(x).max()):.1e} <= {NUMERICAL_ZERO:g} x max(1, max |log-risk|))")
    elif not sd > 0 or np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x).max())):
        reason = "local interaction is constant across patients"
    if reason is not None:
        out["ok"], out["reason"] = False, reason
        if extra_reason is not None:
            out["models"]["adjusted_for_risk_and_covariates"]["reason"] = extra_reason
        return out

    z = (x - x.mean()) / sd
    rng = np.random.default_rng(seed)
    boot_idx = rng.integers(0, n, size=(bootstrap, n))
    perms = np.array([rng.permutation(n) for _ in range(permutations)]).reshape(permutations, n)

    designs: dict[str, tuple[pd.DataFrame | None, str | None]] = {
        "unadjusted": (pd.DataFrame({"interaction_per_sd": z}), None),
        "adjusted_for_risk": (pd.DataFrame({"interaction_per_sd": z, "predicted_log_risk": h}), None),
    }
    if extra is None:
        designs["adjusted_for_risk_and_covariates"] = (None, extra_reason)
    else:
        full = pd.concat([designs["adjusted_for_risk"][0], extra], axis=1)
        designs["adjusted_for_risk_and_covariates"] = (full, None)
    for name, (design, why) in designs.items():
        if design is None:
            out["models"][name]["reason"] = why
            continue
        out["models"][name].update(_cox_model(design, t, d, boot_idx))
    _permutation_p(out["models"]["unadjusted"], z, t, d, perms)

    high = x > np.median(x)
    out["km_median_split"] = _km_split(high, t, d, float(np.median(x)))
    out["quartile_trend"] = _quartile_trend(x, t, d)
    out["rmst"] = _rmst(high, t, d, boot_idx)
    return out


# --------------------------------------------------------------------------- inputs


def _validate(*arrays: Any) -> tuple[np.ndarray, ...]:
    names = ("local_interaction", "time", "event", "predicted_log_risk")
    out = [np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays]
    n = len(out[0])
    for name, a in zip(names, out):
        if len(a) != n:
            raise IntersurvError(f"prognostic analysis: {name} has {len(a)} values, local_interaction has {n}")
        bad = ~np.isfinite(a)
        if bad.any():
            raise IntersurvError(
                f"prognostic analysis: {name} has {int(bad.sum())} non-finite value(s), first at row "
                f"{int(np.flatnonzero(bad)[0])}"
            )
    if (out[1] <= 0).any():
        raise IntersurvError("prognostic analysis: time must be > 0")
    if not np.isin(out[2], (0.0, 1.0)).all():
        raise IntersurvError("prognostic analysis: event must be 0 or 1")
    return tuple(out)


def _adjustment_columns(
    n: int, covariates: pd.DataFrame | None, group: Any
) -> tuple[pd.DataFrame | None, str | None]:
    """One-hot group and covariates as numeric columns (NaN rows kept for complete-case use)."""
    parts: list[pd.DataFrame] = []
    if group is not None:
        g = pd.Series(np.asarray(group, dtype=object).reshape(-1), name="group")
        if len(g) != n:
            raise IntersurvError(f"prognostic analysis: group has {len(g)} values for {n} patients")
        g = g.where(g.notna() & (g.astype(str) != ""), None)
        parts.append(_one_hot(g))
    if covariates is not None:
        if len(covariates) != n:
            raise IntersurvError(
                f"prognostic analysis: covariates have {len(covariates)} rows for {n} patients"
            )
        cov = covariates.reset_index(drop=True)
        for col in cov.columns:
            s = cov[col]
            if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
                parts.append(_one_hot(s.rename(str(col))))
            else:
                parts.append(pd.DataFrame({str(col): s.astype(np.float64)}))
    parts = [p for p in parts if p.shape[1] > 0]
    if not parts:
        return None, "no group or covariates given"
    return pd.concat(parts, axis=1), None


def _one_hot(s: pd.Series) -> pd.DataFrame:
    """Indicator columns ``name=level`` for all but the first level (sorted); NaN stays NaN."""
    levels = sorted(s.dropna().astype(str).unique())
    cols = {
        f"{s.name}={lv}": np.where(s.isna(), _NAN, (s.astype(str) == lv).astype(np.float64))
        for lv in levels[1:]
    }
    return pd.DataFrame(cols, index=s.index)


def _empty_model() -> dict[str, Any]:
    return {
        "covariates": [], "n": 0, "n_events": 0, "hr_per_sd": _NAN, "ci": [_NAN, _NAN],
        "p": _NAN, "ci_bootstrap": [_NAN, _NAN], "n_bootstrap_ok": 0, "reason": None,
    }


def _empty_km() -> dict[str, Any]:
    return {"threshold": _NAN, "rule": "high: x > median, low: x <= median", "logrank_chi2": _NAN,
            "logrank_p": _NAN, "groups": {}, "reason": None}


def _empty_trend() -> dict[str, Any]:
    return {
        "method": "Cox regression on the quartile index 0-3 (HR per quartile step, Wald test); "
                  "global multivariate log-rank across quartiles",
        "hr_per_quartile": _NAN, "ci": [_NAN, _NAN], "p": _NAN, "global_logrank_p": _NAN,
        "n_per_quartile": [], "reason": None,
    }


def _empty_rmst() -> dict[str, Any]:
    return {
        "tau": _NAN, "tau_rule": f"{RMST_QUANTILE:.0%} quantile of follow-up, capped at the last time in "
                                 "either group",
        "high": _NAN, "low": _NAN, "difference": _NAN, "ci_bootstrap": [_NAN, _NAN], "reason": None,
    }


def _skeleton(n: int, n_events: int, bootstrap: int, permutations: int, seed: int) -> dict[str, Any]:
    """The full result with every number NaN: what degenerate inputs return."""
    models = {name: _empty_model() for name in _MODEL_NAMES}
    models["unadjusted"]["p_permutation"] = _NAN
    return {
        "ok": True, "reason": None, "n": n, "n_events": n_events, "sd": _NAN, "median": _NAN,
        "sd_ddof": 1, "ties": "efron", "models": models, "km_median_split": _empty_km(),
        "quartile_trend": _empty_trend(), "rmst": _empty_rmst(),
        "bootstrap": bootstrap, "permutations": permutations, "seed": seed,
    }


# --------------------------------------------------------------------------- Cox models


def _lifelines_first_term(df: pd.DataFrame) -> tuple[float, list[float], float] | str:
    """Hazard ratio, Wald 95 % CI and p of the first column of a lifelines Cox fit on ``df``
    (columns ``_time``, ``_event`` and the covariates), or why it could not be fitted."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    try:
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always", RuntimeWarning)  # lifelines' ConvergenceWarning is one
            cph = CoxPHFitter().fit(df, "_time", "_event", fit_options=_LIFELINES_FIT_OPTIONS)
    except ConvergenceError as exc:
        return f"Cox fit did not converge: {str(exc).splitlines()[0]}"
    for w in {str(w.message).split(". ")[0] for w in caught if issubclass(w.category, RuntimeWarning)}:
        log.info("prognostic analysis, Cox fit on %s: %s", ", ".join(df.columns[:-2]), w)
    row = cph.summary.iloc[0]
    return (float(row["exp(coef)"]), [float(row["exp(coef) lower 95%"]), float(row["exp(coef) upper 95%"])],
            float(row["p"]))


def _cox_model(design: pd.DataFrame, t: np.ndarray, d: np.ndarray, boot_idx: np.ndarray) -> dict[str, Any]:
    """lifelines fit of the first column's HR, adjusted for the others, with bootstrap CI."""

    keep = design.notna().all(axis=1).to_numpy()
    X = design.loc[keep].reset_index(drop=True)
    X = X.loc[:, [X.columns[0]] + [c for c in X.columns[1:] if X[c].nunique() > 1]]
    tk, dk = t[keep], d[keep]
    res = _empty_model()
    res.update(covariates=list(X.columns[1:]), n=int(keep.sum()), n_events=int(dk.sum()))
    if dk.sum() < MIN_EVENTS or len(X) <= X.shape[1] + 1:
        res["reason"] = f"too few complete cases ({len(X)} patients, {int(dk.sum())} events)"
        return res
    Xa = X.to_numpy(dtype=np.float64)
    centred = Xa - Xa.mean(axis=0)
    sv = np.linalg.svd(centred / centred.std(axis=0), compute_uv=False)
    if sv[-1] < 1e-6 * sv[0]:
        res["reason"] = f"collinear design: {', '.join(X.columns)} are linearly dependent"
        return res
    if cox_fit(Xa, tk, dk) is None:
        res["reason"] = "the partial likelihood has no finite maximum (separation); no HR estimable"
        return res
    fitted = _lifelines_first_term(X.assign(_time=tk, _event=dk))
    if isinstance(fitted, str):
        res["reason"] = fitted
        return res
    hr, ci, p = fitted
    res.update(hr_per_sd=hr, ci=ci, p=p)
    if len(boot_idx):
        # resample among complete cases only, mapping the shared indices onto them
        rows = np.flatnonzero(keep)
        pos = np.full(len(keep), -1)
        pos[rows] = np.arange(len(rows))
        betas = []
        for idx in boot_idx:
            sel = pos[idx[keep[idx]]]
            beta = cox_fit(Xa[sel], tk[sel], dk[sel])
            if beta is not None:
                betas.append(beta[0])
        res["n_bootstrap_ok"] = len(betas)
        if len(betas) >= max(2, len(boot_idx) // 2):
            lo, hi = np.percentile(betas, [2.5, 97.5])
            res["ci_bootstrap"] = [float(np.exp(lo)), float(np.exp(hi))]
    return res


def _permutation_p(model: dict[str, Any], z: np.ndarray, t: np.ndarray, d: np.ndarray,
                   perms: np.ndarray) -> None:
    if not len(perms) or not np.isfinite(model["hr_per_sd"]):
        return
    observed = abs(np.log(model["hr_per_sd"]))
    stats = []
    for p in perms:
        beta = cox_fit(z[p][:, None], t, d)
        if beta is not None:
            stats.append(abs(beta[0]))
    if stats:
        model["p_permutation"] = float((1 + np.sum(np.asarray(stats) >= observed - 1e-12)) / (1 + len(stats)))


# --------------------------------------------------------------------------- KM, trend, RMST


def _km_split(high: np.ndarray, t: np.ndarray, d: np.ndarray, threshold: float) -> dict[str, Any]:
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import logrank_test

    out = _empty_km()
    out["threshold"] = threshold
    for label, mask in (("low", ~high), ("high", high)):
        if not mask.any():
            continue
        km = KaplanMeierFitter().fit(t[mask], d[mask])
        sf = km.survival_function_.iloc[:, 0]
        out["groups"][label] = {
            "n": int(mask.sum()), "n_events": int(d[mask].sum()),
            "times": sf.index.to_numpy(dtype=float).tolist(), "survival": sf.to_numpy(dtype=float).tolist(),
        }
    if high.any() and (~high).any():
        lr = logrank_test(t[high], t[~high], d[high], d[~high])
        out["logrank_chi2"], out["logrank_p"] = float(lr.test_statistic), float(lr.p_value)
    return out


def quartile_index(x: np.ndarray) -> np.ndarray:
    """Quartile of each value, 0..3 (fewer levels when ties merge quartile edges)."""
    return np.asarray(pd.qcut(x, 4, labels=False, duplicates="drop"), dtype=np.int64)


def _quartile_trend(x: np.ndarray, t: np.ndarray, d: np.ndarray) -> dict[str, Any]:
    from lifelines.statistics import multivariate_logrank_test

    q = quartile_index(x)
    out = _empty_trend()
    out["n_per_quartile"] = np.bincount(q).tolist()
    if len(np.unique(q)) < 2:
        out["reason"] = "fewer than two distinct quartiles"
        return out
    if cox_fit(q[:, None].astype(np.float64), t, d) is None:
        out["reason"] = "the partial likelihood has no finite maximum (separation)"
        return out
    fitted = _lifelines_first_term(pd.DataFrame({"quartile": q, "_time": t, "_event": d}))
    if isinstance(fitted, str):
        out["reason"] = fitted
        return out
    hr, ci, p = fitted
    out.update(hr_per_quartile=hr, ci=ci, p=p, global_logrank_p=float(multivariate_logrank_test(t, q, d).p_value))
    return out


def _rmst(high: np.ndarray, t: np.ndarray, d: np.ndarray, boot_idx: np.ndarray) -> dict[str, Any]:
    out = _empty_rmst()
    if not high.any() or high.all():
        out["reason"] = "median split leaves an empty group"
        return out
    tau = float(min(np.quantile(t, RMST_QUANTILE), t[high].max(), t[~high].max()))
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    hi, lo = (float(restricted_mean_survival_time(KaplanMeierFitter().fit(t[m], d[m]), t=tau))
              for m in (high, ~high))
    out.update(tau=tau, high=hi, low=lo, difference=hi - lo)
    diffs = []
    for idx in boot_idx:
        hb, tb, db = high[idx], t[idx], d[idx]
        if hb.any() and (~hb).any():
            diffs.append(km_rmst(tb[hb], db[hb], tau) - km_rmst(tb[~hb], db[~hb], tau))
    if len(diffs) >= max(2, len(boot_idx) // 2):
        out["ci_bootstrap"] = np.percentile(diffs, [2.5, 97.5]).tolist()
    return out
