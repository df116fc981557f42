"""The truth of a simulated cohort: :class:`TrueLogRisk` and the ground-truth InterSHAP.

The true log-risk of :func:`intersurv.simulate` (its module docstring defines
readouts and terms) is stored in ``cohort.truth["log_risk"]``;
:class:`TrueLogRisk` turns it back into a model callable that can be
evaluated and explained exactly like a fitted model.

**Ground-truth InterSHAP.** ``truth["interaction"][masker]`` is what
:func:`intersurv.explain` gives for the true log-risk with ``output =
"log_risk"`` and ``reference =`` the whole simulated cohort, for the maskers
``mean`` (the audit's default) and ``marginal`` (with *every* patient as
background: the exact interventional expectation over the cohort, no
sampling; above 2000 patients, a seeded random 2000 of them): the global
InterSHAP under each aggregation, the modality shares, and the variance
decomposition. The reference is the whole cohort because the truth is a
property of the cohort, not of one split; ``log_risk`` is the additive scale
of a Cox model, on which the cross term is the only non-additive part of
``h``. An audit explains a subset (test patients, training patients as
reference), whose InterSHAP differs from the cohort's by sampling error
(several points on ~100 patients: the cross term is a heavy-tailed product);
the truth on exactly those patients is
``explain(TrueLogRisk(cohort.truth), X_test, reference=X_train)``. The
mean-masker truth is ``explain`` run on the cohort's own (float32) arrays.
The marginal masker, whose cost is O(n^2) model rows, is run on the readouts instead (:meth:`TrueLogRisk.on_readouts`): a background row's
readouts are those of the reference patient, so the coalition values are the
same as on the feature arrays, to rounding (1e-12).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ..errors import IntersurvError

OUTPUT = "log_risk"
TRUTH_MASKERS = ("mean", "marginal")
#: Background patients of the ``marginal`` truth: all of them up to this many (the cost is O(n K)).
MARGINAL_BACKGROUND = 2000
#: The transforms ``phi`` of a readout in a term of the log-risk.
PHI: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda r: r,
    "soft_sign": lambda r: np.tanh(10.0 * r),
}


def view_log_likelihood_ratio(u: np.ndarray, noise: float, sensitivity: float) -> np.ndarray:
    """``log P(u | Z=1) / P(u | Z=0)`` of one view ``u = B + noise * eps`` of a binary factor ``Z``
    (``B = Z`` with probability ``sensitivity``, else 0; ``eps`` standard normal)::

        log((1 - s) + s exp((u - 1/2) / noise^2))
    """
    x = (np.asarray(u, dtype=np.float64) - 0.5) / noise**2
    if sensitivity >= 1.0:
        return x
    return np.logaddexp(np.log1p(-sensitivity), np.log(sensitivity) + x)


def shared_binary_log_hazard(term: Mapping[str, Any], readouts: list[np.ndarray]) -> np.ndarray:
    """The Bayes log-hazard of a binary factor ``Z`` (log hazard ratio ``b = term["coef"]``, prevalence
    ``pi``) given its views, one per readout (view ``u_k = mean_k + sd_k r_k``; :func:`view_log_likelihood_ratio`
    for their noise model)::

        L = logit(pi) + sum_k llr(u_k),   p = P(Z = 1 | views) = 1 / (1 + exp(-L))
        h = log E[exp(b Z) | views] = log(1 - p + p e^b) = softplus(L + b) - softplus(L)
    """
    pi = float(term["prevalence"])
    logit = np.log(pi) - np.log1p(-pi)
    for r, view in zip(readouts, term["views"]):
        u = view["mean"] + view["sd"] * np.asarray(r, dtype=np.float64)
        logit = logit + view_log_likelihood_ratio(u, float(term["noise"]), float(term["sensitivity"]))
    b = float(term["coef"])
    return np.logaddexp(0.0, logit + b) - np.logaddexp(0.0, logit)


#: Terms that read their readouts jointly (not as a product of ``phi(r)``): ``phi`` name -> function of
#: the term and its readouts' values.
JOINT: dict[str, Callable[[Mapping[str, Any], list[np.ndarray]], np.ndarray]] = {
    "shared_binary": shared_binary_log_hazard,
}


# ------------------------------------------------------------------ the truth
class TrueLogRisk:
    """The true log-risk of a simulated cohort, as a model callable.

    ``TrueLogRisk(cohort.truth)`` (or ``TrueLogRisk(truth["log_risk"])``)
    evaluates ``h(x) = sum_t coef_t prod_{k in t} phi_t(r_k(x))`` (a term whose ``phi`` is in
    :data:`JOINT` adds ``JOINT[phi](term, [r_k(x)])`` instead) on raw
    modality arrays (see the module docstring); ``f(X) -> (N,)`` float64.
    """

    def __init__(self, truth: Mapping[str, Any]) -> None:
        spec = truth.get("log_risk", truth)
        try:
            self.modalities: list[str] = [str(m) for m in spec["modalities"]]
            self.readouts: dict[str, dict[str, Any]] = {k: dict(v) for k, v in spec["readouts"].items()}
            self.terms: list[dict[str, Any]] = [dict(t) for t in spec["terms"]]
        except (KeyError, TypeError, AttributeError) as exc:
            raise IntersurvError(f"truth has no valid 'log_risk' specification (missing {exc})") from None
        for t in self.terms:
            unknown = [r for r in t["readouts"] if r not in self.readouts]
            if unknown:
                raise IntersurvError(f"truth term uses unknown readout {unknown[0]!r}")
            if t["phi"] not in PHI and t["phi"] not in JOINT:
                raise IntersurvError(f"truth term has unknown phi {t['phi']!r} "
                                     f"(expected {', '.join([*PHI, *JOINT])})")
        for k, r in self.readouts.items():
            if r["modality"] not in self.modalities:
                raise IntersurvError(f"truth readout {k!r} reads unknown modality {r['modality']!r}")
        self._weights = {m: self._weight_matrix(m) for m in self.modalities}

    def _weight_matrix(self, modality: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The readouts of ``modality`` as one affine map: ``r = x @ W + c`` (names, W, c)."""
        names = [k for k, r in self.readouts.items() if r["modality"] == modality]
        width = 1 + max((j for k in names for j in self.readouts[k]["features"]), default=0)
        w = np.zeros((width, len(names)))
        c = np.zeros(len(names))
        for i, k in enumerate(names):
            r = self.readouts[k]
            feats, sd = np.asarray(r["features"], dtype=np.intp), np.asarray(r["sd"])
            denom = len(feats) * r["scale"]
            w[feats, i] = 1.0 / (sd * denom)
            c[i] = -float(np.sum(np.asarray(r["mean"]) / sd)) / denom
        return names, w, c

    def readout_values(self, X: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every readout ``r_k(x)`` for the rows of ``X``: name -> ``(N,)`` float64."""
        out: dict[str, np.ndarray] = {}
        for m, (names, w, c) in self._weights.items():
            if names:
                x = np.asarray(np.asarray(X[m])[:, : len(w)], dtype=np.float64)
                out.update(zip(names, (x @ w + c).T))
        return out

    def __call__(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        n = len(np.asarray(X[self.modalities[0]]))
        values = self.readout_values(X)
        h = np.zeros(n)
        for t in self.terms:
            if t["phi"] in JOINT:
                h += JOINT[t["phi"]](t, [values[name] for name in t["readouts"]])
                continue
            prod = np.ones(n)
            for name in t["readouts"]:
                prod = prod * PHI[t["phi"]](values[name])
            h += t["coef"] * prod
        return h

    def readout_arrays(self, X: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each modality's readouts as an ``(N, R_m)`` float64 array (one zero column if it has none)."""
        values = self.readout_values(X)
        n = len(np.asarray(X[self.modalities[0]]))
        return {m: np.column_stack([values[k] for k in names]) if names else np.zeros((n, 1))
                for m, (names, _, _) in self._weights.items()}

    def on_readouts(self) -> "TrueLogRisk":
        """The same log-risk as a function of :meth:`readout_arrays` (readout k of a modality is column k)."""
        readouts = {k: {"modality": m, "features": [i], "mean": [0.0], "sd": [1.0], "scale": 1.0}
                    for m, (names, _, _) in self._weights.items() for i, k in enumerate(names)}
        return TrueLogRisk({"modalities": self.modalities, "readouts": readouts, "terms": self.terms})


def readout_spec(modality: str, x: np.ndarray, features: np.ndarray) -> dict[str, Any]:
    """The readout of the factor expressed by ``x[:, features]``, standardised on this cohort."""
    block = x[:, features].astype(np.float64)
    mean, sd = block.mean(axis=0), block.std(axis=0)
    scale = float(((block - mean) / sd).mean(axis=1).std())
    return {"modality": modality, "features": [int(j) for j in features],
            "mean": mean.tolist(), "sd": sd.tolist(), "scale": scale}


def term(coef: float, readouts: list[str], phi: str = "identity") -> dict[str, Any]:
    return {"coef": float(coef), "readouts": readouts, "phi": phi}


def ground_truth_interaction(truth_fn: TrueLogRisk, X: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The true InterSHAP numbers of ``truth_fn`` on the cohort ``X`` (see the module docstring).

    For each masker of :data:`TRUTH_MASKERS`: ``intershap`` (global score per
    aggregation), ``shares`` (modality and interaction shares per
    aggregation), ``variance_decomposition`` and ``synergy`` (synergy vs
    redundancy, :func:`intersurv.interactions.synergy.synergy_summary`).
    """
    from ..interactions import explain
    from ..interactions.aggregation import AGGREGATIONS
    from ..interactions.synergy import synergy_summary

    aggregations = [a for a in AGGREGATIONS if a != "swift2026" or len(truth_fn.modalities) == 2]
    on_readouts, R = truth_fn.on_readouts(), truth_fn.readout_arrays(X)
    n = len(R[truth_fn.modalities[0]])
    out: dict[str, Any] = {}
    for masker in TRUTH_MASKERS:
        if masker == "mean":
            e = explain(truth_fn, X, reference=X, masker="mean", output=OUTPUT)
        else:
            e = explain(on_readouts, R, reference=R, masker=masker, output=OUTPUT,
                        background=min(n, MARGINAL_BACKGROUND), batch_size=1 << 18)
        out[masker] = {
            "intershap": {a: e.score(a) for a in aggregations},
            "shares": {a: e.shares(a) for a in aggregations},
            "variance_decomposition": e.variance_decomposition(),
            "synergy": synergy_summary(e.mobius, e.modalities),
        }
    return out
