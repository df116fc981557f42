"""Simulated multimodal survival cohorts with a known answer.

:func:`simulate` draws a cohort whose true log-risk, and therefore whose true
cross-modal interaction, is known exactly; :func:`glioma_sim` is the built-in
``glioma-sim`` (the default cohort of ``intersurv demo``).

**Features.** Each modality is generated from a few latent factors, each
expressed strongly and redundantly by its own block of features (a fraction
``block_fraction`` of the modality's width; loading 0.8-1.2 on the factor plus
independent noise of sd 0.5, so a block's average tracks its factor with
correlation > 0.99); the remaining features are noise. ``wsi`` features are ``softplus(a_j + s_j * pre_j)``: non-negative, like
pooled ResNet-50 embeddings; ``rna`` features are ``base_j + s_j * pre_j``
clipped at 0, log2-expression-like; ``clinical`` (scenario ``glioma3``) holds
age (years), a Karnofsky-like score and sex. The latent factors are: tumour
grade (``group`` "high" / "low", a fixed fraction ``high_grade`` of the
patients), which drives one factor in *each* modality (redundancy); one
prognostic factor of each modality's own; three non-prognostic nuisance
factors per modality.

**True log-risk.** The truth is a deterministic function of the *observed*
features only, so that it can be evaluated, explained and compared exactly
like a fitted model (:class:`TrueLogRisk`, built from ``cohort.truth``). A
*readout* ``r`` of a factor is the average of its block's standardised
features, rescaled to mean 0 and sd 1 over the cohort::

    r(x) = (mean_{j in block} (x_j - mu_j) / sd_j) / s

(``mu_j``, ``sd_j``, ``s`` are the cohort's, stored in ``truth["log_risk"]``).
The log-risk is a sum of terms ``coef * prod_k phi(r_k(x))`` with ``phi`` the
identity or the soft sign ``tanh(10 r)``; in ``glioma``::

    h(x) = b_grade (r_wsi_grade + r_rna_grade) + b_wsi r_wsi_own + b_rna r_rna_own
           + gamma r_wsi_own r_rna_own

where ``gamma`` is solved so that the cross term carries the fraction
``interaction`` of ``Var(h)`` over the cohort. Scenarios: ``glioma`` (above),
``glioma3`` (plus ``b_age r_age`` from the ``clinical`` modality), ``glioma-bags``
(below), ``additive``
(own factors only), ``uniqueness`` (``wsi`` only), ``redundancy`` (the grade
factor seen by both modalities), ``synergy`` (``b tanh(10 r_wsi_own)
tanh(10 r_rna_own)``, with own factors ``±1`` plus noise of sd 0.15 whose four
sign quadrants hold equally many patients, so the soft sign is ±1 to within
1e-4 for all but a handful of patients: XOR-like, ``b sign sign``; unlike
``sign``, ``tanh`` is 0 at the mean, not an arbitrary ±1 set by rounding).
``shared_binary`` (redundancy by construction): the modalities are noisy
views of one shared binary factor, the grade ``Z`` (``P(Z = 1) = high_grade``,
0.25 here, drawn independently per patient). Modality m's grade factor is
``2.5 u_m`` with the view ``u_m = B_m + view_noise * eps_m``, where ``B_m = Z``
with probability ``sensitivity`` (the modality shows the factor in that
fraction of the patients who have it) and 0 otherwise. The log-risk is the
Bayes log-hazard of a cohort whose hazard ratio is ``exp(b_shared Z)``, given
both views: ``h = log E[exp(b Z) | u_wsi, u_rna]`` (:func:`.truth.shared_binary_log_hazard`;
the views are read back from the grade readouts, ``u_m = mean(u_m) + sd(u_m) r_m``).
Once one view shows the factor the posterior is near 1, and the second view
adds little: ``h`` is sub-additive where the factor is shown (redundancy).

**glioma-bags.** The same latent factors and log-risk as ``glioma``, but the
WSI is a bag of patches per patient (:mod:`.bag_sim`: background tissue
patches whose mixture follows the grade and nuisance factors, and ~5 %
informative patches shifted by the WSI's own factor), so the cohort has
``bags["wsi"]`` (kind ``bags``, ``modalities["wsi"]`` its pooled mean). Its
WSI readouts are those of the latent factors themselves (grade factor and own
factor, standardised), so the true log-risk is a function of latent
factors, not of the pooled features: ``truth`` holds it as
``latent_log_risk`` (no ``log_risk``, so the audit does not explain it per
unit; ``truth["unit_truth_skipped"]`` says why), the per-patient factors and
log-risk as ``truth["latent"]``, and ``truth["interaction"]`` its InterSHAP
over the latent factors (the WSI player holds the two WSI factors).

**Survival.** Event times follow Cox proportional hazards with exactly this
log-risk and a Weibull baseline, ``H(t | x) = (t / lam)^k exp(h(x))`` in
months (``lam`` puts the median of a patient with ``h = 0`` at
``median_months``); censoring is exponential and independent, its rate chosen
deterministically so that exactly ``round(event_rate * n)`` deaths are
observed.

**Ground-truth InterSHAP.** ``truth["interaction"]`` holds the true
log-risk's InterSHAP on the whole cohort (:mod:`.truth`, which also holds
:class:`TrueLogRisk`, the true log-risk as a model callable).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import IntersurvError
from ..interactions.planted import cross_coefficient
from .bag_sim import BAG_INT_PARAMS, BAG_PARAMS, bag_truth_note, check_bag_params, draw_bags, latent_summary
from .truth import OUTPUT, TrueLogRisk, ground_truth_interaction, readout_spec, term

__all__ = ["COMMON_PARAMS", "SCENARIOS", "SCENARIO_PARAMS", "TrueLogRisk", "glioma_bags", "glioma_sim", "simulate"]

SCENARIOS = ("glioma", "glioma3", "additive", "uniqueness", "synergy", "redundancy", "shared_binary",
             "glioma-bags")

#: Parameters every scenario accepts, with their defaults.
COMMON_PARAMS: dict[str, float] = {
    "wsi_dim": 2048,        # WSI embedding width
    "rna_genes": 1000,      # number of genes (the glioma study had 12,778)
    "block_fraction": 0.12,  # fraction of a modality's features expressing each latent factor
    "feature_noise": 0.5,   # sd of a block feature's own noise (its loading on the factor is 0.8-1.2)
    "event_rate": 0.34,     # fraction of observed deaths
    "high_grade": 0.12,     # fraction of high-grade patients
    "weibull_shape": 1.3,   # k of the Weibull baseline
    "median_months": 60.0,  # median survival of a patient with log-risk 0
}
#: Extra parameters (and defaults) of each scenario: the coefficients of its log-risk.
SCENARIO_PARAMS: dict[str, dict[str, float]] = {
    "glioma": {"interaction": 0.15, "b_grade": 0.45, "b_wsi": 0.45, "b_rna": 0.6},
    "glioma3": {"interaction": 0.15, "b_grade": 0.45, "b_wsi": 0.45, "b_rna": 0.6, "b_age": 0.3},
    "additive": {"b_wsi": 0.7, "b_rna": 0.7},
    "uniqueness": {"b_wsi": 0.7, "b_grade": 0.45},
    "synergy": {"b_synergy": 1.0},
    "redundancy": {"b_grade": 0.6},
    # the shared binary factor is the grade; its prevalence overrides the common default
    "shared_binary": {"b_shared": 3.0, "high_grade": 0.25, "view_noise": 0.25, "sensitivity": 0.7},
    "glioma-bags": {"interaction": 0.15, "b_grade": 0.45, "b_wsi": 0.45, "b_rna": 0.6, **BAG_PARAMS},
}
INT_PARAMS = ("wsi_dim", "rna_genes", *BAG_INT_PARAMS)
NUISANCE_FACTORS = 3
# ------------------------------------------------------------------ features
def _factor_blocks(rng: np.random.Generator, width: int, n_factors: int, block: int) -> list[np.ndarray]:
    """Disjoint random feature blocks, one per factor (sorted indices)."""
    perm = rng.permutation(width)
    return [np.sort(perm[i * block:(i + 1) * block]) for i in range(n_factors)]


def _pre_activation(rng: np.random.Generator, factors: np.ndarray, width: int,
                    blocks: list[np.ndarray], noise: float) -> np.ndarray:
    """``(N, width)`` latent-driven values: factor f loads on its block, every feature has noise."""
    n = len(factors)
    pre = rng.standard_normal((n, width))
    for f, cols in enumerate(blocks):
        loading = rng.uniform(0.8, 1.2, size=len(cols))
        pre[:, cols] = factors[:, [f]] * loading + noise * pre[:, cols]
    return pre


def _wsi(rng: np.random.Generator, pre: np.ndarray) -> np.ndarray:
    """Non-negative pooled-embedding-like features: ``softplus(a_j + s_j pre)``."""
    a = rng.uniform(0.0, 1.0, size=pre.shape[1])
    s = rng.uniform(0.3, 0.5, size=pre.shape[1])
    return np.logaddexp(0.0, a + s * pre).astype(np.float32)


def _rna(rng: np.random.Generator, pre: np.ndarray) -> np.ndarray:
    """log2-expression-like features: ``max(0, base_j + s_j pre)``."""
    base = rng.uniform(3.0, 11.0, size=pre.shape[1])
    s = rng.uniform(0.5, 1.2, size=pre.shape[1])
    return np.maximum(base + s * pre, 0.0).astype(np.float32)


def _own_factors(rng: np.random.Generator, n: int, bimodal: bool) -> np.ndarray:
    """``(N, 2)`` own prognostic factors of wsi and rna.

    Normal, or (``bimodal``) ``±1`` plus noise of sd 0.15 with the four sign
    quadrants holding ``n // 4`` patients each (the remainder at random).
    """
    if not bimodal:
        return rng.standard_normal((n, 2))
    quadrant = np.concatenate([np.repeat(np.arange(4), n // 4), rng.integers(0, 4, size=n % 4)])
    quadrant = rng.permutation(quadrant)
    signs = np.stack([np.where(quadrant & 1, 1.0, -1.0), np.where(quadrant & 2, 1.0, -1.0)], axis=1)
    return signs + 0.15 * rng.standard_normal((n, 2))


# ------------------------------------------------------------------ survival
def _times(rng: np.random.Generator, h: np.ndarray, p: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Cox-Weibull event times and calibrated exponential censoring -> (time in months, event)."""
    k = p["weibull_shape"]
    lam = p["median_months"] / np.log(2.0) ** (1.0 / k)
    t_event = lam * (rng.exponential(size=len(h)) * np.exp(-h)) ** (1.0 / k)
    e_cens = rng.exponential(size=len(h))
    # censoring time e_cens / rate: the event is observed iff rate <= e_cens / t_event
    q = np.sort(e_cens / t_event)[::-1]
    n_events = int(round(p["event_rate"] * len(h)))
    if not 1 <= n_events < len(h):
        raise IntersurvError(f"event_rate={p['event_rate']} gives {n_events} deaths among {len(h)} patients; "
                             "expected at least one death and one censored patient")
    rate = 0.5 * (q[n_events - 1] + q[n_events])
    c = e_cens / rate
    event = (t_event <= c).astype(np.int8)
    time = np.maximum(np.round(np.minimum(t_event, c), 2), 0.01)
    return time, event


# ------------------------------------------------------------------ parameters
def _resolve_params(scenario: str, n: int, params: Mapping[str, Any]) -> dict[str, float]:
    if scenario not in SCENARIOS:
        raise IntersurvError(f"unknown scenario {scenario!r} (scenarios: {', '.join(SCENARIOS)})")
    defaults = {**COMMON_PARAMS, **SCENARIO_PARAMS[scenario]}
    unknown = [k for k in params if k not in defaults]
    if unknown:
        raise IntersurvError(f"scenario {scenario!r} has no parameter {unknown[0]!r} "
                             f"(parameters: {', '.join(defaults)})")
    out: dict[str, float] = {}
    for key, default in defaults.items():
        value = params.get(key, default)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise IntersurvError(f"parameter {key!r} must be a number, got {value!r}") from None
        if key in INT_PARAMS:
            if value != int(value) or value < 1:
                raise IntersurvError(f"parameter {key!r} must be a positive integer, got {params[key]!r}")
            value = int(value)
        out[key] = value
    if not 0.0 <= out.get("interaction", 0.0) < 1.0:
        raise IntersurvError(f"parameter 'interaction' must be in [0, 1), got {out['interaction']}")
    for key in ("event_rate", "high_grade"):
        if not 0.0 < out[key] < 1.0:
            raise IntersurvError(f"parameter {key!r} must be in (0, 1), got {out[key]}")
    if not 0.0 < out.get("sensitivity", 1.0) <= 1.0:
        raise IntersurvError(f"parameter 'sensitivity' must be in (0, 1], got {out['sensitivity']}")
    for key in ("weibull_shape", "median_months", "feature_noise", "view_noise"):
        if out.get(key, 1.0) <= 0:
            raise IntersurvError(f"parameter {key!r} must be > 0, got {out[key]}")
    n_blocks = 2 + NUISANCE_FACTORS
    if not 0.0 < out["block_fraction"] <= 1.0 / n_blocks:
        raise IntersurvError(f"parameter 'block_fraction' must be in (0, {1.0 / n_blocks:g}] "
                             f"({n_blocks} disjoint factor blocks), got {out['block_fraction']}")
    if n < 8:
        raise IntersurvError(f"n must be at least 8 patients, got {n}")
    if scenario == "glioma-bags":
        check_bag_params(out)
    return out


# ------------------------------------------------------------------ the simulator
def simulate(scenario: str = "glioma", n: int = 575, seed: int = 0, *, bag_dir: str | None = None,
             **params: Any) -> Cohort:
    """Draw a simulated cohort of ``n`` patients with its ground truth in ``cohort.truth``.

    Parameters
    ----------
    scenario:
        one of :data:`SCENARIOS` (see the module docstring).
    n, seed:
        number of patients; seed of every random draw (same arguments, same cohort).
    params:
        :data:`COMMON_PARAMS` and the scenario's :data:`SCENARIO_PARAMS`, e.g.
        ``interaction=0.3`` (share of the log-risk variance carried by the
        cross term) or ``rna_genes=12778``.
    bag_dir:
        ``glioma-bags`` only: the bag directory to write the bags to (default:
        a cache directory, :func:`intersurv.datasets.bag_sim.draw_bags`).
    """
    n = int(n)
    p = _resolve_params(scenario, n, params)
    bags = scenario == "glioma-bags"
    ids = np.array([f"SIM-{i + 1:04d}" for i in range(n)])
    rng = np.random.default_rng([int(seed), SCENARIOS.index(scenario)])
    high = np.zeros(n, dtype=bool)
    high[rng.permutation(n)[: int(round(p["high_grade"] * n))]] = True
    if scenario == "shared_binary":  # independent draws: the Bayes posterior's prior is exactly high_grade
        high = rng.uniform(size=n) < p["high_grade"]
    grade = high.astype(np.float64)
    own = _own_factors(rng, n, bimodal=scenario == "synergy")
    age = np.round(np.clip(rng.normal(np.where(high, 58.0, 42.0), 12.0), 18.0, 90.0), 1)
    male = (rng.uniform(size=n) < 0.57).astype(np.int64)

    modalities: dict[str, np.ndarray] = {}
    names: dict[str, list[str]] = {}
    blocks: dict[str, list[np.ndarray]] = {}
    views = {}
    for j, (m, width, make) in enumerate((("wsi", p["wsi_dim"], _wsi), ("rna", p["rna_genes"], _rna))):
        grade_factor = 2.5 * grade + 0.6 * rng.standard_normal(n)
        if scenario == "shared_binary":  # the modality's view of the grade (module docstring)
            shown = high & (rng.uniform(size=n) < p["sensitivity"])
            views[m] = shown + p["view_noise"] * rng.standard_normal(n)
            grade_factor = 2.5 * views[m]
        factors = np.column_stack([grade_factor, own[:, j], rng.standard_normal((n, NUISANCE_FACTORS))])
        if bags and m == "wsi":  # the truth reads the WSI's latent grade and own factors themselves
            wsi_latent, modalities[m], blocks[m] = factors, factors[:, :2], [np.array([0]), np.array([1])]
            continue
        block = max(1, int(p["block_fraction"] * width))
        blocks[m] = _factor_blocks(rng, width, factors.shape[1], block)
        modalities[m] = make(rng, _pre_activation(rng, factors, width, blocks[m], p["feature_noise"]))
    names["wsi"] = [f"wsi_{j:04d}" for j in range(p["wsi_dim"])]
    names["rna"] = [f"gene_{j:05d}" for j in range(p["rna_genes"])]
    kinds = {"wsi": "wsi", "rna": "rna"}
    if scenario == "glioma3":
        kps = np.clip(np.round(np.where(high, 70.0, 85.0) + 10.0 * rng.standard_normal(n), -1), 40.0, 100.0)
        modalities["clinical"] = np.column_stack([age, kps, male]).astype(np.float32)
        names["clinical"] = ["age", "karnofsky", "male"]
        kinds["clinical"] = "clinical"

    readouts = {
        f"{m}_{factor}": readout_spec(m, modalities[m], blocks[m][f])
        for m in ("wsi", "rna") for f, factor in enumerate(("grade", "own"))
    }
    if scenario == "glioma3":
        readouts["clinical_age"] = readout_spec("clinical", modalities["clinical"], np.array([0]))
    terms = _main_terms(scenario, p)
    if scenario == "synergy":
        terms.append(term(p["b_synergy"], ["wsi_own", "rna_own"], "soft_sign"))
    if scenario == "shared_binary":
        terms.append({**term(p["b_shared"], ["wsi_grade", "rna_grade"], "shared_binary"),
                      "prevalence": p["high_grade"], "noise": p["view_noise"], "sensitivity": p["sensitivity"],
                      "views": [{"mean": float(views[m].mean()), "sd": float(views[m].std())} for m in views]})
    spec: dict[str, Any] = {"modalities": list(modalities), "readouts": readouts, "terms": terms}
    truth_fn = TrueLogRisk(spec)
    if "interaction" in p:
        main = truth_fn(modalities)
        r = truth_fn.readout_values(modalities)
        cross = r["wsi_own"] * r["rna_own"]
        terms.append(term(cross_coefficient(main, cross, p["interaction"]), ["wsi_own", "rna_own"]))
        truth_fn = TrueLogRisk(spec)
    h = truth_fn(modalities)
    time, event = _times(rng, h, p)

    truth: dict[str, Any] = {
        "scenario": scenario,
        "n": n,
        "seed": int(seed),
        "params": p,
        "definition": ("log-risk h(x) = sum of coef * prod phi(readout(x)) over the terms; readout = "
                       "mean of standardised block features / scale; event times Cox PH with Weibull "
                       "baseline H(t|x) = (t/lam)^k exp(h(x)), months. InterSHAP: intersurv.explain of h "
                       "with reference = this whole cohort, output log_risk; marginal masker with every "
                       "patient as background."),
        "output": OUTPUT,
        "reference": "cohort",
        "log_risk": spec,
        "log_risk_variance": float(h.var()),
        "interaction": ground_truth_interaction(truth_fn, modalities),
    }
    bag_sets = {}
    if bags:
        truth["latent_log_risk"] = truth.pop("log_risk")
        truth["latent"] = latent_summary(ids, wsi_latent, h)
        truth["unit_truth_skipped"] = bag_truth_note()
        truth["definition"] = truth["definition"].replace("readout = mean of standardised block features",
                                                          "WSI readouts = the latent WSI factors; RNA readout = "
                                                          "mean of standardised block features")
        bag_sets["wsi"] = draw_bags(wsi_latent, ids, p, int(seed), bag_dir)
        modalities["wsi"] = bag_sets["wsi"].pooled()
        kinds["wsi"] = "bags"
    return Cohort(
        ids=ids, time=time, event=event, modalities=modalities, feature_names=names, time_unit="months",
        group=np.where(high, "high", "low"),
        covariates=pd.DataFrame({"age": age, "male": male}),
        kinds=kinds, name={"glioma": "glioma-sim", "glioma-bags": "glioma-bags"}.get(scenario, f"{scenario}-sim"),
        truth=truth, bags=bag_sets,
    )


def _main_terms(scenario: str, p: Mapping[str, float]) -> list[dict[str, Any]]:
    """The additive terms of the scenario's log-risk (the cross term is added by :func:`simulate`)."""
    if scenario in ("glioma", "glioma3", "glioma-bags"):
        terms = [term(p["b_grade"], ["wsi_grade"]), term(p["b_grade"], ["rna_grade"]),
                 term(p["b_wsi"], ["wsi_own"]), term(p["b_rna"], ["rna_own"])]
        if scenario == "glioma3":
            terms.append(term(p["b_age"], ["clinical_age"]))
        return terms
    if scenario == "additive":
        return [term(p["b_wsi"], ["wsi_own"]), term(p["b_rna"], ["rna_own"])]
    if scenario == "uniqueness":
        return [term(p["b_grade"], ["wsi_grade"]), term(p["b_wsi"], ["wsi_own"])]
    if scenario == "redundancy":
        return [term(p["b_grade"], ["wsi_grade"]), term(p["b_grade"], ["rna_grade"])]
    return []


def glioma_sim() -> Cohort:
    """The built-in ``glioma-sim``: ``simulate("glioma", n=575, seed=0)``."""
    return simulate("glioma", n=575, seed=0)


def glioma_bags() -> Cohort:
    """The built-in ``glioma-bags``: ``simulate("glioma-bags", n=575, seed=0)`` (bags in the cache)."""
    return simulate("glioma-bags", n=575, seed=0)
