"""The interaction share of survival over a grid of times.

The same forward passes serve every time: the coalition game is evaluated once
with the output ``S(t|x) = S0(t)^exp(h(x))`` at all T times (the model's
Breslow baseline), then decomposed per time. Survival is not additive even for
an additive log-risk (S = S0^exp(h)), so the share depends on t; compare it with
the ``log_risk`` share of the same model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import IntersurvError
from .coalitions import Model, evaluate_coalitions
from .explanation import Explanation
from .game import ArraysOrCohort, prepare_game
from .outputs import survival_transform
from .settings import DEFAULT_EXPLAIN, ExplainSettings


def interaction_over_time(
    model: Model,
    X: ArraysOrCohort,
    times: np.ndarray | list[float],
    *,
    reference: ArraysOrCohort | None = None,
    masker: str = DEFAULT_EXPLAIN.masker,
    aggregation: str = DEFAULT_EXPLAIN.aggregation,
    background: int = DEFAULT_EXPLAIN.background,
    bootstrap: int = 0,
    seed: int = 0,
    batch_size: int = 4096,
) -> pd.DataFrame:
    """InterSHAP of ``survival@t`` for each t in ``times`` (arguments as in :func:`explain`).

    Returns one row per time: ``time``, ``intershap`` (under ``aggregation``),
    ``share_<m>`` per modality and, with ``bootstrap`` replicates,
    ``intershap_low`` / ``intershap_high`` (95 % percentile bootstrap over patients).
    """
    grid = np.asarray(times, dtype=np.float64).reshape(-1)
    if len(grid) == 0 or not (np.isfinite(grid) & (grid > 0)).all():
        raise IntersurvError(f"times must be a non-empty list of numbers > 0, got {list(grid)}")
    settings = ExplainSettings(masker=masker, aggregation=aggregation, background=background, bootstrap=bootstrap)
    transform = survival_transform(model, grid)
    game = prepare_game(model, X, reference=reference, masker=masker, background=background, seed=seed)
    settings.check_modalities(len(game.modalities))
    values = evaluate_coalitions(model, game.X, game.background, transform, batch_size=batch_size)
    rows = []
    for j, t in enumerate(grid):
        e = Explanation(values[:, :, j], game.modalities, masker=masker, output=f"survival@{t:g}",
                        aggregation=aggregation, background=game.background.n_per_patient, seed=seed,
                        bootstrap=bootstrap)
        row = {"time": t, "intershap": e.score()}
        if bootstrap:
            row["intershap_low"], row["intershap_high"] = e.bootstrap_ci()["intershap"]
        row.update({f"share_{m}": v for m, v in e.shares().items() if m != "interaction"})
        rows.append(row)
    return pd.DataFrame(rows)
