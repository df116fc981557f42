"""``explain``: InterSHAP of a survival model, returning an :class:`~.explanation.Explanation`.

The model is any callable ``f(X: dict[str, ndarray]) -> (N,)`` log-risks on raw
modality arrays (a :class:`~intersurv.training.FittedModel` is one, and also
knows its modalities, its training data and its Breslow baseline). The
explanation is exact: every coalition of modalities is evaluated for every
patient (:mod:`.coalitions`), then decomposed (:mod:`.decomposition`) and
aggregated (:mod:`.aggregation`). Defaults and checks of the settings:
:mod:`.settings`.
"""

from __future__ import annotations

from typing import Any

from .coalitions import Model, evaluate_coalitions
from .explanation import Explanation
from .game import ArraysOrCohort, prepare_game
from .outputs import make_transform, parse_output
from .settings import DEFAULT_EXPLAIN, ExplainSettings

__all__ = ["ArraysOrCohort", "Explanation", "explain"]


def explain(
    model: Model,
    X: ArraysOrCohort,
    *,
    reference: ArraysOrCohort | None = None,
    masker: str = DEFAULT_EXPLAIN.masker,
    output: str = DEFAULT_EXPLAIN.output,
    aggregation: str = DEFAULT_EXPLAIN.aggregation,
    background: int = DEFAULT_EXPLAIN.background,
    bootstrap: int = 0,
    seed: int = 0,
    batch_size: int = 4096,
    time: Any = None,
    event: Any = None,
) -> Explanation:
    """Exact InterSHAP of ``model`` on the patients ``X``.

    Parameters
    ----------
    model:
        callable ``dict[str, (n, d_m) array] -> (n,)`` log-risks. Its
        ``modalities`` (if any) fix the modality order, else the order of ``X``;
        its ``reference`` is the default reference set and its ``baseline`` (a
        Breslow baseline) is needed for the survival/RMST outputs.
    X:
        the patients to explain: a dict of modality arrays or a Cohort (whose
        ids, times and events are then used).
    reference:
        the reference set of the masker (dict or Cohort); default
        ``model.reference``. Required except for ``masker="zero"``.
    masker:
        ``mean``, ``zero``, ``marginal`` (``background`` = K reference
        patients, averaged) or ``shuffle`` (see :mod:`.maskers`).
    output:
        ``log_risk``, ``risk``, ``survival@<t>`` or ``rmst@<tau>`` (t, tau in
        the cohort's time unit).
    aggregation:
        default aggregation of the global score: ``abs``, ``paper``,
        ``local_mean`` or ``swift2026``.
    bootstrap:
        replicates of the bootstrap CIs in :meth:`Explanation.summary` (0, the
        default here: none; the command line and the audit default to
        ``ExplainSettings.bootstrap``).
    seed:
        seeds the background draws and the bootstrap.
    batch_size:
        model rows per forward pass (memory is bounded by it).
    time, event:
        follow-up and event indicators for the cost of additivity (taken from
        ``X`` when it is a Cohort).
    """
    settings = ExplainSettings(masker=masker, output=output, aggregation=aggregation, background=background,
                               bootstrap=bootstrap)
    scale = parse_output(output)
    transform = make_transform(model, scale)
    game = prepare_game(model, X, reference=reference, masker=masker, background=background, seed=seed,
                        time=time, event=event)
    settings.check_modalities(len(game.modalities))
    values = evaluate_coalitions(model, game.X, game.background, transform, batch_size=batch_size)
    return Explanation(
        values[:, :, 0], game.modalities, masker=masker, output=scale.name, aggregation=aggregation,
        background=game.background.n_per_patient, seed=seed, bootstrap=bootstrap,
        ids=game.ids, time=game.time, event=game.event,
    )
