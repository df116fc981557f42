"""Does the cohort carry cross-modal interaction? A test of additivity and an estimate.

H0: the log-hazard is additive across modalities, ``h(x) = sum_m h_m(x_m)``.
The test and the estimate use the patients who have every modality (complete
cases): a cross-modal product is not defined for a patient who lacks one.

**Representation (no outcomes).** Every modality is standardised and, if it
has more than ``k`` features, replaced by its ``k`` leading whitened principal
components (:func:`principal_scores`; the same whitening as
:class:`~intersurv.training.pca.PrincipalAxes`), fitted on *all*
patients without their outcomes, so the representation cannot select
directions that happen to interact in this sample. ``p_m`` (n x k_m) are the
scores, centred over the cohort. ``k`` is 5 (:data:`COMPONENTS`) unless the
cohort has too few events for the model below (fewer than
:data:`MIN_EVENTS_PER_COLUMN` per column): then the largest ``k`` that fits,
so that a cohort with several modalities (M modalities have M(M-1)/2 pairs
of products) is still tested; the p-value is calibrated for any ``k`` by the
bootstrap below, and ``components`` in the result records the ``k_m`` used.

**Model.** A Cox model with main effects and every cross-modal product::

    h(x) = sum_m a_m . p_m + sum_{m < l} p_m^T G_ml p_l

(``k^2`` products per pair of modalities). Coefficients maximise the Breslow
partial log-likelihood ``l(beta)`` minus the ridge penalty
``0.5 sum_j lam_j beta_j^2`` (:func:`cox_ridge`).

**Test.** The score statistic of the product block at the additive fit
(beta_prod = 0, main effects fitted)::

    S = U_p^T (I_pp - I_pm I_mm^-1 I_mp)^-1 U_p

(``U`` the score, ``I`` the observed information, ``p`` the products, ``m``
the main effects). Its chi-square reference (df = number of products) is
unreliable with ~25 products and a few hundred events, so the p-value is a
parametric bootstrap: ``B`` cohorts keep the patients and their modalities and
draw new outcomes from the fitted *additive* model (event times from its
Breslow baseline, censoring from the reverse Kaplan-Meier curve;
:mod:`intersurv.survival.outcomes`), and
``p = (1 + #{S_b >= S}) / (B + 1)``.

**Estimate.** The same model with a fixed ridge penalty on the products,
``lam = PENALTY_PER_EVENT x (number of events)`` (10 at glioma-sim's ~290
events; the information grows with the events, so this keeps the relative
shrinkage fixed), explained by :func:`intersurv.explain` (log-risk, mean
masker, the cohort as reference, ``abs`` aggregation): its InterSHAP
``I_lam``. The ``abs`` aggregation averages ``|phi_12|``, which estimation
noise alone makes positive (``I_lam`` is ~18 % on additive glioma-sim
cohorts, ``docs/validation.md``), and more so the fewer events per product,
so ``I_lam`` is bias-corrected by the bootstrap and the estimate is a pretest
estimator. The basic bootstrap interval over patients is ``[L, U] = [2 I_lam
- q_0.975, 2 I_lam - q_0.025]`` clipped to [0, 1] (``q`` quantiles of
``I_lam`` refitted on resampled patients and explained on the cohort; the
basic interval undoes the upward shift that resampling noise adds). Where the
test rejects at ``alpha`` the estimate is its centre ``(L + U) / 2``
(``I_lam`` minus the bootstrap's estimate of its bias) and the CI ``[L, U]``;
where it does not, the estimate is 0 and the CI ``[0, U]`` (the data are then
compatible with additivity).

**Synergy or redundancy** (:mod:`.synergy`). The same product model's
Möbius coefficients (mean masker, cohort as reference) split its interaction
mass into a synergistic and a redundant part; ``synergy["model"]`` holds the
split of the fitted model, ``synergy["estimate"]`` the synergy share
bias-corrected by the same bootstrap refits (centre of the basic interval
``[2 s - q_0.975, 2 s - q_0.025]`` of the refits' shares ``s_b``, clipped to
[0, 1]) and ``synergy["ci"]`` that interval; ``kind`` is ``"synergy"`` where
the estimate exceeds 1/2 and ``"redundancy"`` where it is below. It is
``reported`` only where the test rejects. A product model is bilinear in the
principal scores, so its split depends on where the cohort's scores lie:
``docs/design.md`` and ``docs/validation.md`` say what it recovers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
from scipy import stats

from ..cohort import Cohort
from ..errors import IntersurvError
from ..seeds import ADDITIVITY_TEST, derive_seed

if TYPE_CHECKING:
    from ..survival import BreslowBaseline
    from .explanation import Explanation
    from ..survival.outcomes import CensoringCurve

#: Principal components per modality (glioma-sim: 5 latent factors per modality).
COMPONENTS = 5
#: Ridge penalty of the products per observed event (the estimate's model).
PENALTY_PER_EVENT = 0.035
#: The test needs at least this many events per model column (main effects + products); else it is skipped.
MIN_EVENTS_PER_COLUMN = 2
#: Ridge penalty of the main effects (numerical stability only).
MAIN_PENALTY = 1e-4


@dataclass(frozen=True)
class CoxFit:
    """Penalised Cox fit: coefficients, linear predictor, penalised log-likelihood, its observed
    information (minus the Hessian) at ``beta``, converged or not."""

    beta: np.ndarray
    log_risk: np.ndarray
    loglik: float
    information: np.ndarray
    converged: bool


class _RiskSets:
    """Breslow risk-set bookkeeping of one (time, event) sample, sorted once."""

    def __init__(self, time: np.ndarray, event: np.ndarray) -> None:
        self.order = np.argsort(time, kind="stable")
        t = np.asarray(time, dtype=np.float64)[self.order]
        d = np.asarray(event)[self.order].astype(bool)
        if not d.any():
            raise IntersurvError("the additivity test needs at least one event")
        self.events = np.flatnonzero(d)
        # risk set of event i: rows from the first row whose time equals t_i (ties at risk)
        self.start = np.searchsorted(t, t[self.events], side="left")

    def terms(self, X: np.ndarray, beta: np.ndarray, hessian: bool = True) -> tuple[float, np.ndarray, np.ndarray | None]:
        """Breslow log-likelihood ``sum_events eta_i - log sum_{j in R_i} exp(eta_j)``, gradient, Hessian
        (``X`` sorted by time)."""
        eta = X @ beta
        shift = eta.max()
        w = np.exp(eta - shift)
        s0 = np.cumsum(w[::-1])[::-1][self.start]
        s1 = np.cumsum((w[:, None] * X)[::-1], axis=0)[::-1][self.start]
        mean = s1 / s0[:, None]
        ll = float(eta[self.events].sum() - (np.log(s0) + shift).sum())
        grad = X[self.events].sum(axis=0) - mean.sum(axis=0)
        if not hessian:
            return ll, grad, None
        # sum_i S2(R_i) / S0(R_i) = X^T diag(w_a c_a) X with c_a = sum_{i : start_i <= a} 1 / S0(R_i)
        c = np.cumsum(np.bincount(self.start, weights=1.0 / s0, minlength=len(w)))
        hess = -((X * (w * c)[:, None]).T @ X - mean.T @ mean)
        return ll, grad, hess


def cox_ridge(X: np.ndarray, time: np.ndarray, event: np.ndarray, penalty: np.ndarray | float,
              *, max_iter: int = 50, tol: float = 1e-8) -> CoxFit:
    """Maximise ``l(beta) - 0.5 sum_j penalty_j beta_j^2`` (Breslow ties) by Newton-Raphson with step halving.

    ``X`` (n, p) covariates, ``penalty`` a scalar or (p,) vector (>= 0, finite).
    """
    X = np.asarray(X, dtype=np.float64)
    lam = np.broadcast_to(np.asarray(penalty, dtype=np.float64), (X.shape[1],))
    rs = _RiskSets(time, event)
    Xs = X[rs.order]
    beta = np.zeros(X.shape[1])

    def objective(b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        ll, g, h = rs.terms(Xs, b)
        return ll - 0.5 * float(lam @ b**2), g - lam * b, h - np.diag(lam)

    obj, grad, hess = objective(beta)
    converged = False
    for _ in range(max_iter):
        step = np.linalg.solve(-hess, grad)
        scale = 1.0
        while True:
            cand = beta + scale * step
            new = objective(cand)
            if np.isfinite(new[0]) and new[0] >= obj - 1e-12:
                break
            scale /= 2
            if scale < 1e-10:
                break
        done = abs(new[0] - obj) < tol
        beta, (obj, grad, hess) = cand, new
        if done:
            converged = True
            break
    return CoxFit(beta=beta, log_risk=X @ beta, loglik=obj, information=-hess, converged=converged)


def principal_scores(X: Mapping[str, np.ndarray], components: int = COMPONENTS) -> dict[str, np.ndarray]:
    """Per modality the cohort-centred scores: standardised features (population sd; constant features
    dropped), reduced to the ``components`` leading whitened principal components where the modality is
    wider (module docstring). Uses no outcomes.

    With the standardised ``Z`` (n x d) and the eigenpairs ``(lambda_j, u_j)`` of the Gram matrix ``Z Z^T``
    (``lambda_j = s_j^2``, the squared singular values of ``Z``), the whitened scores are ``sqrt(n) u_j``
    (unit variance over the cohort), each sign fixed so that its largest-magnitude entry is positive.
    A patient lacking a modality (an all-NaN row) is left out of that modality's fit and gets the scores
    0, the mean of the patients who have it.
    """
    out = {}
    for m, x in X.items():
        x = np.asarray(x, dtype=np.float64)
        present = ~np.isnan(x).all(axis=1)
        x = x[present]
        sd = x.std(axis=0)
        z = (x[:, sd > 1e-12] - x[:, sd > 1e-12].mean(axis=0)) / sd[sd > 1e-12]
        n, d = z.shape
        if d > components:
            lam, u = np.linalg.eigh(z @ z.T)
            u = u[:, ::-1][:, :components] * np.sqrt(n)
            z = u * np.sign(u[np.abs(u).argmax(axis=0), np.arange(components)])
        scores = np.zeros((len(present), z.shape[1]))
        scores[present] = z - z.mean(axis=0)
        out[m] = scores
    return out


def design(scores: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(main, products)``: the main-effect columns ``[p_1 ... p_M]`` and every cross-modal product
    ``p_m[:, i] * p_l[:, j]`` (m < l)."""
    names = list(scores)
    main = np.column_stack([scores[m] for m in names])
    prods = [(scores[a][:, :, None] * scores[b][:, None, :]).reshape(len(main), -1)
             for i, a in enumerate(names) for b in names[i + 1:]]
    if not prods:
        raise IntersurvError("the additivity test needs at least two modalities")
    return main, np.column_stack(prods)


def score_statistic(main: np.ndarray, products: np.ndarray, time: np.ndarray,
                    event: np.ndarray) -> tuple[float, CoxFit]:
    """The score statistic ``S`` of the product block at the additive fit, and that fit (module docstring)."""
    additive = cox_ridge(main, time, event, MAIN_PENALTY)
    X = np.column_stack([main, products])
    rs = _RiskSets(time, event)
    beta = np.concatenate([additive.beta, np.zeros(products.shape[1])])
    _, grad, hess = rs.terms(X[rs.order], beta)
    info = -hess
    k = main.shape[1]
    imm, imp, ipp = info[:k, :k] + MAIN_PENALTY * np.eye(k), info[:k, k:], info[k:, k:]
    efficient = ipp - imp.T @ np.linalg.solve(imm, imp)
    u = grad[k:]
    stat = float(u @ np.linalg.lstsq(efficient, u, rcond=None)[0])
    return stat, additive


def bootstrap_null(main: np.ndarray, products: np.ndarray, additive: CoxFit, baseline: "BreslowBaseline",
                   censoring: "CensoringCurve", replicates: int, rng: np.random.Generator) -> np.ndarray:
    """Score statistics of ``replicates`` cohorts with outcomes drawn from the fitted additive model
    (its Breslow ``baseline``, the cohort's reverse Kaplan-Meier ``censoring``)."""
    from ..survival.outcomes import draw_outcomes

    out = np.empty(replicates)
    for b in range(replicates):
        t_b, e_b = draw_outcomes(additive.log_risk, baseline, censoring, rng)
        out[b] = score_statistic(main, products, t_b, e_b)[0] if e_b.any() else 0.0
    return out


@dataclass(frozen=True)
class ProductCox:
    """The fitted log-risk ``sum_m a_m . p_m + sum_{m<l} p_m^T G_ml p_l`` as a model on the score arrays."""

    modalities: list[str]
    beta: np.ndarray

    def __call__(self, X: Mapping[str, np.ndarray]) -> np.ndarray:
        main, products = design({m: np.asarray(X[m], dtype=np.float64) for m in self.modalities})
        return np.column_stack([main, products]) @ self.beta


def fit_products(main: np.ndarray, products: np.ndarray, time: np.ndarray, event: np.ndarray,
                 penalty: float) -> np.ndarray:
    """Coefficients ``[a, G]`` of the product model with the products' ridge ``penalty``."""
    lam = np.concatenate([np.full(main.shape[1], MAIN_PENALTY), np.full(products.shape[1], penalty)])
    return cox_ridge(np.column_stack([main, products]), time, event, lam).beta


def explain_products(modalities: list[str], beta: np.ndarray, scores: Mapping[str, np.ndarray]) -> "Explanation":
    """The product model explained on the cohort (log-risk, mean masker, the cohort as reference, ``abs``)."""
    from .explain import explain

    model = ProductCox(modalities, beta)
    return explain(model, dict(scores), reference=dict(scores), masker="mean", output="log_risk",
                   aggregation="abs")


def intershap_of(modalities: list[str], beta: np.ndarray, scores: Mapping[str, np.ndarray]) -> float:
    """InterSHAP (log-risk, mean masker, the cohort as reference, ``abs``) of the product model."""
    return explain_products(modalities, beta, scores).score()


def basic_interval(estimate: float, replicates: np.ndarray) -> tuple[float, float]:
    """Basic bootstrap 95 % interval ``[2 e - q_0.975, 2 e - q_0.025]`` clipped to [0, 1] (NaN without
    replicates)."""
    if not len(replicates):
        return float("nan"), float("nan")
    low, high = (float(np.clip(2 * estimate - q, 0.0, 1.0)) for q in np.quantile(replicates, [0.975, 0.025]))
    return low, high


def cohort_synergy(model: "Explanation", boot: np.ndarray, rejected: bool) -> dict[str, Any]:
    """Synergy vs redundancy of the product model's interaction (:mod:`.synergy`): its synergy share, the
    bias-corrected estimate (centre of the basic bootstrap interval over the refits' shares ``boot``) and
    that interval; ``reported`` is False where the additivity test does not reject."""
    from .synergy import synergy_summary

    summary = synergy_summary(model.mobius, model.modalities)
    share = summary["overall"]["synergy_share"]
    boot = boot[np.isfinite(boot)]
    if share is None:
        return {"reported": False, "estimate": None, "ci": [None, None], "kind": "none", "model": summary,
                "replicates": int(len(boot))}
    low, high = basic_interval(share, boot)
    estimate = (low + high) / 2 if len(boot) else share
    kind = "synergy" if estimate > 0.5 else "redundancy" if estimate < 0.5 else "balanced"
    return {"reported": rejected, "estimate": float(estimate), "ci": [low, high], "kind": kind,
            "model": summary, "replicates": int(len(boot))}


def cohort_interaction(cohort: Cohort, *, components: int = COMPONENTS, null_replicates: int = 199,
                       ci_replicates: int = 100, planted_replicates: int = 40,
                       alpha: float = 0.05, seed: int = 0) -> dict[str, Any]:
    """The cohort-level test and estimate of the module docstring, and the minimum detectable interaction
    (:mod:`.planted`, ``planted_replicates`` draws per strength; 0: not computed).

    Patients lacking a modality are left out (complete cases; ``patients`` counts those used).
    Returns ``{"p_value", "statistic", "df", "p_chi2", "estimate", "ci", "minimum_detectable", "planted",
    "synergy" (:func:`cohort_synergy`), "penalty", "components", "patients", "null_replicates", "ci_replicates",
    "alpha", "method"}`` (estimate, CI and minimum detectable interaction as InterSHAP fractions); with fewer
    than :data:`MIN_EVENTS_PER_COLUMN` events per model column, ``p_value``, ``estimate``, ``ci`` and
    ``synergy`` are None and ``skipped`` says why.
    """
    from ..survival import BreslowBaseline
    from ..survival.outcomes import CensoringCurve
    from .planted import planted_power

    if len(cohort.modality_names) < 2:
        raise IntersurvError(f"cohort {cohort.name!r}: the additivity test needs at least two modalities")
    lacking = np.any(list(cohort.missing.values()), axis=0)
    if lacking.any():  # complete cases: the products of a modality a patient lacks are not defined
        cohort = cohort.subset(np.flatnonzero(~lacking))
    rng = np.random.default_rng(derive_seed(ADDITIVITY_TEST, seed))
    time, event = np.asarray(cohort.time, dtype=np.float64), np.asarray(cohort.event)
    for k in range(components, 0, -1):  # the most components the events allow (module docstring)
        scores = principal_scores(cohort.modalities, k)
        main, products = design(scores)
        columns = main.shape[1] + products.shape[1]
        if np.sum(event) >= MIN_EVENTS_PER_COLUMN * columns:
            break
    if np.sum(event) < MIN_EVENTS_PER_COLUMN * columns:
        return {"estimate": None, "ci": [None, None], "p_value": None, "minimum_detectable": None,
                "synergy": None,
                "planted": None, "alpha": alpha, "components": {m: int(s.shape[1]) for m, s in scores.items()},
                "patients": cohort.n_patients,
                "skipped": (f"{int(np.sum(event))} events for {columns} model columns (main effects and "
                            f"cross-modal products); the test needs {MIN_EVENTS_PER_COLUMN} per column"),
                "method": "not run"}
    stat, additive = score_statistic(main, products, time, event)
    baseline, censoring = BreslowBaseline.fit(additive.log_risk, time, event), CensoringCurve.fit(time, event)
    null = bootstrap_null(main, products, additive, baseline, censoring, null_replicates, rng)
    p_value = float((1 + np.sum(null >= stat)) / (null_replicates + 1))

    from .synergy import synergy_summary

    names = list(scores)
    penalty = PENALTY_PER_EVENT * float(np.sum(event))
    model = explain_products(names, fit_products(main, products, time, event, penalty), scores)
    model_intershap = model.score()
    boot = np.empty(ci_replicates)
    boot_synergy = np.empty(ci_replicates)
    n = len(time)
    for b in range(ci_replicates):
        idx = rng.integers(n, size=n)
        refit = explain_products(names, fit_products(main[idx], products[idx], time[idx], event[idx], penalty),
                                 scores)
        boot[b] = refit.score()
        share = synergy_summary(refit.mobius, names)["overall"]["synergy_share"]
        boot_synergy[b] = np.nan if share is None else share
    rejected = p_value <= alpha
    low, high = basic_interval(model_intershap, boot)
    estimate = (low + high) / 2 if rejected else 0.0
    if not rejected:
        low = 0.0
    planted = None
    if planted_replicates:
        critical = float(np.quantile(null, 1 - alpha))
        planted = planted_power(scores, main, products, additive, baseline, censoring, critical,
                                replicates=planted_replicates, seed=seed)
    return {
        "estimate": float(estimate), "ci": [low, high], "p_value": p_value, "model_intershap": model_intershap,
        "minimum_detectable": None if planted is None else planted["minimum_detectable"], "planted": planted,
        "synergy": cohort_synergy(model, boot_synergy, rejected), "alpha": alpha,
        "statistic": stat, "df": int(products.shape[1]), "p_chi2": float(stats.chi2.sf(stat, products.shape[1])),
        "penalty": penalty, "components": {m: int(s.shape[1]) for m, s in scores.items()},
        "patients": cohort.n_patients,
        "null_replicates": null_replicates, "ci_replicates": ci_replicates,
        "method": ("score test of all cross-modal products of per-modality principal components (fitted without "
                   "outcomes) in a Cox model, parametric-bootstrap p-value from the fitted additive model; "
                   "estimate: bootstrap bias-corrected InterSHAP of the ridge product model where the test rejects, "
                   "else 0; basic bootstrap CI over patients (lower end 0 where the test does not reject)"),
    }
