"""Penalised linear Cox reference models: ``linear:<modality>`` and ``clinical``.

On the cohort passed in (the caller's training fold; the test patients are
never seen):

1. **Input transform** per feature on all of these patients (``transform``, as
   for the networks: :class:`~intersurv.training.standardize.Standardizer`), giving z.
2. **Elastic-net Cox** (scikit-survival's ``CoxnetSurvivalAnalysis``): beta
   minimises

       -(1/n) log PL(beta) + alpha * (l1_ratio * |beta|_1 + (1 - l1_ratio)/2 * |beta|_2^2)

   with Breslow's partial likelihood PL, along a path of 20 penalties alpha
   from the smallest that zeroes every coefficient down to 1 % of it (5 %
   when there are more features than patients: the weakest penalties of a
   wide path are slow to fit and overfit).
3. **Penalty by inner cross-validation**: ``inner_folds``-fold CV over the
   same patients (stratified by event, seeded by ``seed``); each alpha is
   scored by the mean Harrell C of the held-out folds and the best one wins
   (ties: the larger penalty). The model is refitted on all the patients at
   that alpha.
4. **Baseline**: the Breslow baseline hazard on the same patients.

The result is a :class:`~intersurv.training.fitted.FittedModel` whose module is
:class:`~intersurv.models.linear.LinearCox` holding beta: it is saved, loaded,
evaluated and explained like a network (``best_epoch`` 0, no validation
patients; ``history`` holds the inner-CV curve ``alpha`` / ``cv_c``).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from ..cohort import Cohort
from ..errors import IntersurvError
from ..models import build_model, model_modalities
from .fitted import FittedModel
from .pca import PrincipalAxes
from .splits import kfold_splits
from .settings import DEFAULT_TRAIN, check_linear_options
from .standardize import Standardizer

N_ALPHAS = 20


def alpha_min_ratio(n: int, d: int) -> float:
    """The weakest penalty of the path relative to the strongest (module docstring)."""
    return 0.01 if d < n else 0.05


def _coxnet(z: np.ndarray, time: np.ndarray, event: np.ndarray, l1_ratio: float,
            alphas: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(alphas, coef (d, n_alphas)) of an elastic-net Cox path on ``z``."""
    from sksurv.linear_model import CoxnetSurvivalAnalysis
    from sksurv.util import Surv

    model = CoxnetSurvivalAnalysis(l1_ratio=l1_ratio, alphas=alphas, n_alphas=N_ALPHAS,
                                   alpha_min_ratio=alpha_min_ratio(*z.shape), max_iter=100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes at the weakest penalties
        model.fit(z, Surv.from_arrays(event.astype(bool), time))
    return np.asarray(model.alphas_), np.asarray(model.coef_)


def choose_alpha(z: np.ndarray, time: np.ndarray, event: np.ndarray, l1_ratio: float, inner_folds: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The penalty path of all the patients, its coefficients (d, n_alphas) and each penalty's mean
    held-out Harrell C over ``inner_folds`` folds."""
    from ..metrics import harrell_c

    alphas, path = _coxnet(z, time, event, l1_ratio, None)
    scores = np.zeros((inner_folds, len(alphas)))
    for k, split in enumerate(kfold_splits(event, inner_folds, seed)):
        tr, te = split.train, split.test
        _, coef = _coxnet(z[tr], time[tr], event[tr], l1_ratio, alphas)
        for j in range(len(alphas)):
            # a path cut short keeps its last coefficients for the weaker penalties
            beta = coef[:, min(j, coef.shape[1] - 1)]
            scores[k, j] = harrell_c(z[te] @ beta, time[te], event[te]) if event[te].any() else 0.5
    return alphas, path, scores.mean(axis=0)


def coxnet_beta(z: np.ndarray, time: np.ndarray, event: np.ndarray, l1_ratio: float, inner_folds: int,
                seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(beta, alphas, cv_c): the elastic-net Cox on ``z`` at the penalty chosen by inner CV (steps 2-3;
    the refit on all the patients is the path they gave the penalties)."""
    alphas, path, cv_c = choose_alpha(z, time, event, l1_ratio, inner_folds, seed)
    best = int(np.argmax(cv_c))  # alphas decrease: argmax takes the largest penalty among ties
    return path[:, min(best, path.shape[1] - 1)], alphas, cv_c


def fit_linear(cohort: Cohort, arch: str, seed: int = 0, *, l1_ratio: float = DEFAULT_TRAIN.l1_ratio,
               inner_folds: int = DEFAULT_TRAIN.inner_folds,
               transform: str | dict[str, str] = DEFAULT_TRAIN.transform) -> FittedModel:
    """Fit the linear reference ``arch`` (``linear:<m>`` or ``clinical``) on ``cohort``; see the module docstring."""
    from ..survival import BreslowBaseline

    check_linear_options(l1_ratio, inner_folds)
    used = model_modalities(arch, cohort.modality_names)
    if cohort.n_events < inner_folds:
        raise IntersurvError(f"{arch}: {cohort.n_events} events are too few for {inner_folds}-fold inner CV")
    raw = {m: cohort.modalities[m] for m in used}
    standardizer = Standardizer.fit(raw, transform)
    transformed = standardizer.transform(raw)
    axes = PrincipalAxes.fit(transformed, "none")
    z = np.concatenate([transformed[m] for m in used], axis=1).astype(np.float64)
    beta, alphas, cv_c = coxnet_beta(z, cohort.time, cohort.event, l1_ratio, inner_folds, seed)
    best = int(np.argmax(cv_c))

    widths = {m: cohort.widths()[m] for m in used}
    module = build_model(arch, widths)
    with torch.no_grad():
        module.linear.weight.copy_(torch.from_numpy(beta.astype(np.float32)).reshape(1, -1))
    module.eval()
    with torch.inference_mode():
        log_risk = module({m: torch.from_numpy(transformed[m]) for m in used}).double().numpy()
    baseline = BreslowBaseline.fit(log_risk, cohort.time, cohort.event)
    settings: dict[str, Any] = {"seed": seed, "l1_ratio": l1_ratio, "inner_folds": inner_folds,
                                "transform": transform, "alpha": float(alphas[best]),
                                "nonzero": int(np.count_nonzero(beta))}
    return FittedModel(
        arch=arch, modalities=used, widths=widths, hyper=module.hyper, module=module, standardizer=standardizer,
        axes=axes, baseline=baseline, train_ids=cohort.ids.tolist(), val_ids=[],
        history={"alpha": alphas.tolist(), "cv_c": [c if math.isfinite(c) else 0.5 for c in cv_c.tolist()]},
        best_epoch=0, settings=settings, reference=raw,
    )
