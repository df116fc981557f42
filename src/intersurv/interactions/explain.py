"""``explain``: InterSHAP of a survival model, and the :class:`Explanation` it returns.

The model is any callable ``f(X: dict[str, ndarray]) -> (N,)`` log-risks on raw
modality arrays (a :class:`~intersurv.training.FittedModel` is one, and also
knows its modalities, its training data and its Breslow baseline). The
explanation is exact: every coalition of modalities is evaluated for every
patient (:mod:`.coalitions`), then decomposed (:mod:`.decomposition`) and
aggregated (:mod:`.aggregation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import IntersurvError
from . import aggregation as agg
from . import decomposition as dec
from .coalitions import MAX_MODALITIES, Model, coalition_label, coalition_sizes, evaluate_coalitions
from .maskers import Background, make_background
from .outputs import make_transform, parse_output

ArraysOrCohort = Mapping[str, np.ndarray] | Cohort


class Explanation:
    """The exact coalition game of every patient and what follows from it.

    Parameters
    ----------
    coalition_values:
        ``(N, 2^M)`` values ``v_a(S)`` on the output scale, coalition bit order
        of :mod:`.coalitions` (column c holds modality i iff bit ``1 << i`` of c is set).
    modalities:
        the M modality names, in bit order.
    masker, output, aggregation, background, seed, bootstrap:
        how the values were made and the defaults of :meth:`score`,
        :meth:`shares` and :meth:`bootstrap_ci` (``background`` is the number
        of reference rows K averaged per patient; ``bootstrap`` the number of
        bootstrap replicates, 0 for none).
    ids, time, event:
        optional patient ids, follow-up times and event indicators (needed by
        :meth:`cost_of_additivity`).

    Attributes
    ----------
    mobius: ``(N, 2^M)`` Möbius coefficients (the functional ANOVA terms).
    shapley: ``(N, M)`` Shapley values, on the output scale.
    matrix: ``(N, M, M)`` InterSHAP matrices (rows sum to ``shapley``).
    coalitions: the names of the 2^M coalitions in bit order.
    """

    def __init__(
        self,
        coalition_values: np.ndarray,
        modalities: list[str],
        *,
        masker: str = "custom",
        output: str = "log_risk",
        aggregation: str = "abs",
        background: int | None = None,
        seed: int = 0,
        bootstrap: int = 0,
        ids: np.ndarray | None = None,
        time: np.ndarray | None = None,
        event: np.ndarray | None = None,
    ) -> None:
        values = np.asarray(coalition_values, dtype=np.float64)
        n_mod = len(modalities)
        if values.ndim != 2 or values.shape[1] != 2**n_mod:
            raise IntersurvError(
                f"coalition values have shape {values.shape}; expected (N, {2**n_mod}) for {n_mod} modalities"
            )
        agg.check_aggregation(aggregation, n_mod)
        if bootstrap < 0:
            raise IntersurvError(f"bootstrap must be >= 0 replicates, got {bootstrap}")
        self.coalition_values = values
        self.modalities = list(modalities)
        self.masker = masker
        self.output = output
        self.aggregation = aggregation
        self.background = background
        self.seed = seed
        self.bootstrap = bootstrap
        self.ids = ids
        self.time = time
        self.event = event
        self.coalitions = [coalition_label(c, self.modalities) for c in range(2**n_mod)]
        self.mobius = dec.mobius(values)
        self.shapley = dec.shapley_from_mobius(self.mobius)
        self.matrix = dec.intershap_matrix(self.mobius)

    @property
    def n_patients(self) -> int:
        return len(self.coalition_values)

    def __repr__(self) -> str:
        return (f"Explanation({self.n_patients} patients, modalities={self.modalities}, "
                f"masker={self.masker!r}, output={self.output!r}, "
                f"{self.aggregation} InterSHAP={self.score():.4f})")

    # ------------------------------------------------------------ global numbers
    def _shares_array(self, aggregation: str | None, weights: np.ndarray | None = None) -> np.ndarray:
        return agg.shares(self.matrix, aggregation or self.aggregation, shapley=self.shapley, weights=weights)

    def score(self, aggregation: str | None = None) -> float:
        """The global InterSHAP score: the interaction share under ``aggregation``."""
        return float(self._shares_array(aggregation)[-1])

    def shares(self, aggregation: str | None = None) -> dict[str, float]:
        """Modality shares (``Phi_ii / Behaviour``) and ``"interaction"``; they add up to 1."""
        s = self._shares_array(aggregation)
        return {**{m: float(v) for m, v in zip(self.modalities, s)}, "interaction": float(s[-1])}

    def local_scores(self, aggregation: str | None = None) -> np.ndarray:
        """Per-patient interaction share ``(N,)`` (NaN where the patient's matrix is all 0).

        ``sum_{i!=j} |phi_ij| / sum_ij |phi_ij|``, or the swift2026 ratio when
        ``aggregation`` is ``"swift2026"``.
        """
        a = aggregation or self.aggregation
        agg.check_aggregation(a, len(self.modalities))
        return agg.patient_shares(self.matrix, a, self.shapley)[:, -1]

    def additive_projection(self) -> np.ndarray:
        """``f_add = sum_i v(i) - (M - 1) v(empty)`` per patient, on the output scale."""
        return dec.additive_projection(self.coalition_values)

    def variance_decomposition(self) -> dict[str, Any]:
        """Variances/covariances over patients of the functional ANOVA terms, and shares.

        The terms are the Möbius coefficients (``f_i = v(i) - v(empty)``,
        ``f_ij = v(ij) - v(i) - v(j) + v(empty)``, ...); they are the functional
        ANOVA decomposition of the model with the ``marginal`` masker. Shares
        are fractions of ``Var(v(M) - v(empty))`` (see
        :func:`.decomposition.variance_decomposition`); ``"interaction_share"``
        sums the shares of the terms of two or more modalities.
        """
        out = dec.variance_decomposition(self.mobius, self.coalitions)
        terms = np.array(self.coalitions[1:])[self._interaction_terms()]
        out["interaction_share"] = float(sum(out["shares"][t] for t in terms))
        out["masker"] = self.masker
        return out

    def _interaction_terms(self) -> np.ndarray:
        """Boolean mask over the non-empty coalitions: the ANOVA terms of two or more modalities."""
        return coalition_sizes(len(self.modalities))[1:] >= 2

    def cost_of_additivity(self) -> dict[str, float]:
        """Harrell's C of the model ``f = v(M)`` and of its additive projection ``f_add``.

        Needs times and events. For survival/RMST outputs (larger = better
        prognosis) the C-index is computed on minus the output.
        """
        time, event = self._outcome()
        sign = parse_output(self.output).risk_sign
        c_model = _harrell_c(sign * self.coalition_values[:, -1], time, event)
        c_add = _harrell_c(sign * self.additive_projection(), time, event)
        return {"c_index": c_model, "additive_c_index": c_add, "difference": c_model - c_add}

    def _outcome(self) -> tuple[np.ndarray, np.ndarray]:
        if self.time is None or self.event is None:
            raise IntersurvError("cost of additivity needs times and events: pass time= and event= "
                                 "to explain, or explain a Cohort")
        return self.time, self.event

    def bootstrap_ci(
        self,
        aggregation: str | None = None,
        *,
        n_boot: int | None = None,
        level: float = 0.95,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Percentile bootstrap CIs over patients of the global numbers.

        ``n_boot`` replicates (default: the explanation's ``bootstrap``, else
        200) resample the N patients with replacement. Returns ``[low, high]``
        for ``"intershap"``, each of ``"shares"``, each variance-decomposition
        share (``"variance_shares"``, and ``"variance_interaction_share"``), and,
        when times and events are known, ``"c_index"``, ``"additive_c_index"`` and their ``"difference"``.
        """
        n_boot = n_boot if n_boot is not None else (self.bootstrap or 200)
        if n_boot < 1 or not 0 < level < 1:
            raise IntersurvError(f"bootstrap needs n_boot >= 1 and 0 < level < 1, got {n_boot} and {level}")
        rng = np.random.default_rng(self.seed if seed is None else seed)
        n = self.n_patients
        draws = rng.integers(n, size=(n_boot, n))
        weights = np.zeros((n_boot, n))
        np.add.at(weights, (np.arange(n_boot)[:, None], draws), 1.0)
        q = [(1 - level) / 2, (1 + level) / 2]

        def ci(x: np.ndarray) -> list[float]:
            return [float(v) for v in np.nanquantile(x, q, axis=0)] if np.isfinite(x).any() else [np.nan] * 2

        s = self._shares_array(aggregation, weights)
        var_shares = _weighted_variance_shares(self.mobius[:, 1:], weights)
        out: dict[str, Any] = {
            "n_boot": n_boot,
            "level": level,
            "intershap": ci(s[:, -1]),
            "shares": {**{m: ci(s[:, i]) for i, m in enumerate(self.modalities)},
                       "interaction": ci(s[:, -1])},
            "variance_shares": {t: ci(var_shares[:, i]) for i, t in enumerate(self.coalitions[1:])},
            "variance_interaction_share": ci(var_shares[:, self._interaction_terms()].sum(axis=1)),
        }
        if self.time is not None and self.event is not None:
            sign = parse_output(self.output).risk_sign
            f, f_add = sign * self.coalition_values[:, -1], sign * self.additive_projection()
            c = np.array([[_harrell_c(f[d], self.time[d], self.event[d]),
                           _harrell_c(f_add[d], self.time[d], self.event[d])] for d in draws])
            out["c_index"], out["additive_c_index"] = ci(c[:, 0]), ci(c[:, 1])
            out["difference"] = ci(c[:, 0] - c[:, 1])
        return out

    # ------------------------------------------------------------ per patient
    def to_frame(self) -> pd.DataFrame:
        """One row per patient.

        Columns: ``patient_id`` (when known), ``time`` and ``event`` (when
        known), ``output`` (``v(M)``, the model on the output scale),
        ``baseline`` (``v(empty)``), ``additive`` (``f_add``),
        ``local_intershap``, ``shapley_<m>``, ``main_<m>`` (``phi_mm``) and
        ``interaction_<a>|<b>`` (``phi_ab + phi_ba``, a before b).
        """
        cols: dict[str, Any] = {}
        if self.ids is not None:
            cols["patient_id"] = np.asarray(self.ids)
        if self.time is not None and self.event is not None:
            cols["time"], cols["event"] = self.time, self.event
        cols["output"] = self.coalition_values[:, -1]
        cols["baseline"] = self.coalition_values[:, 0]
        cols["additive"] = self.additive_projection()
        cols["local_intershap"] = self.local_scores()
        for i, m in enumerate(self.modalities):
            cols[f"shapley_{m}"] = self.shapley[:, i]
        for i, m in enumerate(self.modalities):
            cols[f"main_{m}"] = self.matrix[:, i, i]
        for i, a in enumerate(self.modalities):
            for j in range(i + 1, len(self.modalities)):
                cols[f"interaction_{a}|{self.modalities[j]}"] = self.matrix[:, i, j] + self.matrix[:, j, i]
        return pd.DataFrame(cols)

    def summary(self) -> dict[str, Any]:
        """A JSON-able dict: how it was computed and every global number."""
        applicable = [a for a in agg.AGGREGATIONS if a != "swift2026" or len(self.modalities) == 2]
        has_outcome = self.time is not None and self.event is not None
        return {
            "masker": self.masker,
            "output": self.output,
            "aggregation": self.aggregation,
            "background": self.background,
            "seed": self.seed,
            "n_patients": self.n_patients,
            "modalities": self.modalities,
            "coalitions": self.coalitions,
            "intershap": self.score(),
            "shares": self.shares(),
            "scores": {a: self.score(a) for a in applicable},
            "variance": self.variance_decomposition(),
            "cost_of_additivity": self.cost_of_additivity() if has_outcome else None,
            "bootstrap": self.bootstrap_ci() if self.bootstrap else None,
        }


def _weighted_variance_shares(terms: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per replicate ``Var_w(term) / Var_w(sum of terms)``: ``(B, P)``."""
    w = weights / weights.sum(axis=1, keepdims=True)
    mean, mean_sq = w @ terms, w @ terms**2
    total = terms.sum(axis=1)
    var_total = w @ total**2 - (w @ total) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return (mean_sq - mean**2) / var_total[:, None]


def _harrell_c(risk: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    from ..metrics import harrell_c

    return float(harrell_c(risk, time, event))


# ---------------------------------------------------------------- the game
@dataclass(frozen=True)
class Game:
    """The validated inputs of a coalition game: arrays in modality order and the masker."""

    X: dict[str, np.ndarray]
    background: Background
    ids: np.ndarray | None
    time: np.ndarray | None
    event: np.ndarray | None

    @property
    def modalities(self) -> list[str]:
        return list(self.X)


def _arrays(what: str, data: Mapping[str, np.ndarray], modalities: list[str]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for m in modalities:
        if m not in data:
            raise IntersurvError(f"{what} has no modality {m!r} (has {', '.join(map(str, data)) or 'none'})")
        x = np.asarray(data[m])
        if x.ndim != 2 or x.shape[0] == 0:
            raise IntersurvError(f"{what} modality {m!r} has shape {x.shape}; expected (patients, features)")
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float64)
        bad = ~np.isfinite(x) & ~np.isnan(x).all(axis=1, keepdims=True)  # an all-NaN row: modality missing
        if bad.any():
            raise IntersurvError(f"{what} modality {m!r} has {int(bad.sum())} NaN/inf value(s), "
                                 f"first in row {int(np.argwhere(bad)[0][0])}")
        out[m] = x
    sizes = {m: len(x) for m, x in out.items()}
    if len(set(sizes.values())) > 1:
        raise IntersurvError(f"{what} modalities have different numbers of rows: {sizes}")
    return out


def _outcome_array(name: str, values: Any, n: int) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(arr) != n:
        raise IntersurvError(f"{name} has {len(arr)} values for {n} patients")
    return arr


def prepare_game(
    model: Model,
    X: ArraysOrCohort,
    *,
    reference: ArraysOrCohort | None,
    masker: str,
    background: int,
    seed: int,
    time: Any = None,
    event: Any = None,
) -> Game:
    """Validate the inputs of :func:`explain` and build the masker's background."""
    ids = None
    if isinstance(X, Cohort):
        ids = X.ids
        time = X.time if time is None else time
        event = X.event if event is None else event
        X = X.X
    modalities = [str(m) for m in getattr(model, "modalities", None) or list(X)]
    if not 2 <= len(modalities) <= MAX_MODALITIES:
        raise IntersurvError(f"interaction needs 2 to {MAX_MODALITIES} modalities; "
                             f"got {len(modalities)} ({', '.join(modalities)})")
    Xd = _arrays("X", X, modalities)
    n = len(Xd[modalities[0]])
    if reference is None:
        reference = getattr(model, "reference", None)
    if isinstance(reference, Cohort):
        reference = reference.X
    ref = None
    if reference is not None:
        ref = _arrays("reference", reference, modalities)
        for m in modalities:
            if ref[m].shape[1] != Xd[m].shape[1]:
                raise IntersurvError(f"reference modality {m!r} has {ref[m].shape[1]} features, "
                                     f"X has {Xd[m].shape[1]}")
    elif masker != "zero":
        raise IntersurvError(f"no reference set for masker {masker!r}: pass reference= (the training data); "
                             "the explained patients are never used as their own reference")
    time_arr, event_arr = _outcome_array("time", time, n), _outcome_array("event", event, n)
    if event_arr is not None and not np.isin(event_arr, (0.0, 1.0)).all():
        raise IntersurvError("event must be 0 or 1 for every patient")
    bg = make_background(masker, ref, Xd, k=background, rng=np.random.default_rng(seed))
    return Game(Xd, bg, ids, time_arr, event_arr)


def explain(
    model: Model,
    X: ArraysOrCohort,
    *,
    reference: ArraysOrCohort | None = None,
    masker: str = "mean",
    output: str = "log_risk",
    aggregation: str = "abs",
    background: int = 100,
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
        replicates of the bootstrap CIs in :meth:`Explanation.summary` (0: none).
    seed:
        seeds the background draws and the bootstrap.
    batch_size:
        model rows per forward pass (memory is bounded by it).
    time, event:
        follow-up and event indicators for the cost of additivity (taken from
        ``X`` when it is a Cohort).
    """
    scale = parse_output(output)
    transform = make_transform(model, scale)
    game = prepare_game(model, X, reference=reference, masker=masker, background=background, seed=seed,
                        time=time, event=event)
    agg.check_aggregation(aggregation, len(game.modalities))
    values = evaluate_coalitions(model, game.X, game.background, transform, batch_size=batch_size)
    return Explanation(
        values[:, :, 0], game.modalities, masker=masker, output=scale.name, aggregation=aggregation,
        background=game.background.n_per_patient, seed=seed, bootstrap=bootstrap,
        ids=game.ids, time=game.time, event=game.event,
    )
