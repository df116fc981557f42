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

from typing import Any, Mapping

from .coalitions import Model, evaluate_coalitions
from .explanation import Explanation
from .game import ArraysOrCohort, prepare_game
from .groups import Grouping
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
    groups: Grouping | None = None,
    feature_names: Mapping[str, list[str]] | None = None,
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
    groups:
        feature groups as players, ``{name: ["modality:column", ...]}``
        (:mod:`.groups`); the columns of a modality in no group form the
        player ``<modality>:rest``. None (default): one player per modality.
        The explanation's ``modalities`` are then the player names.
    feature_names:
        the column names ``groups`` refers to (default: the Cohort's; else
        the column indices ``0, 1, ...``).
    """
    settings = ExplainSettings(masker=masker, output=output, aggregation=aggregation, background=background,
                               bootstrap=bootstrap)
    scale = parse_output(output)
    transform = make_transform(model, scale)
    game = prepare_game(model, X, reference=reference, masker=masker, background=background, seed=seed,
                        time=time, event=event, groups=groups, feature_names=feature_names)
    settings.check_modalities(len(game.players))
    values = evaluate_coalitions(model, game.X, game.background, transform, players=game.players,
                                 batch_size=batch_size)
    return Explanation(
        values[:, :, 0], game.player_names, masker=masker, output=scale.name, aggregation=aggregation,
        background=game.background.n_per_patient, seed=seed, bootstrap=bootstrap,
        ids=game.ids, time=game.time, event=game.event,
    )
