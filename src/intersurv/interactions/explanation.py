"""The :class:`Explanation`: the exact coalition game of every patient and what follows from it.

Built by :func:`intersurv.explain` (or directly from ``(N, 2^M)`` coalition
values, e.g. those an audit unit stored in ``interactions.csv``): Möbius
coefficients, Shapley values and InterSHAP matrices (:mod:`.decomposition`),
global scores and shares (:mod:`.aggregation`), the variance decomposition,
the cost of additivity and bootstrap CIs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import IntersurvError
from . import aggregation as agg
from . import decomposition as dec
from .coalitions import coalition_label, coalition_sizes
from .outputs import parse_output
from .settings import DEFAULT_EXPLAIN


class Explanation:
    """The exact coalition game of every patient and what follows from it.

    Parameters
    ----------
    coalition_values:
        ``(N, 2^M)`` values ``v_a(S)`` on the output scale, coalition bit order
        of :mod:`.coalitions` (column c holds modality i iff bit ``1 << i`` of c is set).
    modalities:
        the M player names, in bit order: the modalities by default, the
        feature groups (and ``<modality>:rest``) of an explanation with
        ``groups`` (:mod:`.players`); everything below reads "player" for
        "modality" then.
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
        output: str = DEFAULT_EXPLAIN.output,
        aggregation: str = DEFAULT_EXPLAIN.aggregation,
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
    def players(self) -> list[str]:
        """The players' names (the modalities unless the explanation has feature groups)."""
        return self.modalities

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

    def share_matrix(self, weights: np.ndarray | None = None) -> np.ndarray:
        """``(M, M)`` shares ``Phi_ij / sum_kl Phi_kl`` with ``Phi_ij = mean_a |phi_ij^a|`` (the ``abs``
        aggregation entry by entry: the diagonal holds the modality shares, the off-diagonal entries add
        up to the ``abs`` InterSHAP); ``(B, M, M)`` with bootstrap ``weights`` ``(B, N)``."""
        n, m = self.n_patients, len(self.modalities)
        w = np.ones((1, n)) if weights is None else weights
        phi = (w @ np.abs(self.matrix).reshape(n, m * m) / w.sum(axis=1, keepdims=True)).reshape(-1, m, m)
        total = phi.sum(axis=(1, 2))[:, None, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total > 0, phi / np.where(total > 0, total, 1.0), np.nan)
        return out[0] if weights is None else out

    def top_pairs(self, k: int = 10, *, n_boot: int | None = None, level: float = 0.95,
                  seed: int | None = None) -> list[dict[str, Any]]:
        """The ``k`` pairs with the largest interaction share ``S_ij + S_ji`` (:meth:`share_matrix`),
        largest first: ``{"pair": [a, b], "share", "ci", "mean_abs", "mean"}`` with ``mean_abs`` =
        mean over patients of ``|phi_ij + phi_ji|`` and ``mean`` its signed mean (output scale), ``ci``
        the percentile bootstrap interval over patients of the share (``n_boot`` replicates, default the
        explanation's ``bootstrap``; no interval when 0)."""
        m = len(self.modalities)
        s = self.share_matrix()
        i, j = np.triu_indices(m, 1)
        pair_share = s[i, j] + s[j, i]
        order = np.argsort(-np.nan_to_num(pair_share, nan=-1.0), kind="stable")[:k]
        n_boot = self.bootstrap if n_boot is None else n_boot
        ci = None
        if n_boot:
            rng = np.random.default_rng(self.seed if seed is None else seed)
            n = self.n_patients
            weights = np.zeros((n_boot, n))
            np.add.at(weights, (np.arange(n_boot)[:, None], rng.integers(n, size=(n_boot, n))), 1.0)
            sb = self.share_matrix(weights)
            ci = np.nanquantile(sb[:, i, j] + sb[:, j, i], [(1 - level) / 2, (1 + level) / 2], axis=0)
        pair = self.matrix[:, i, j] + self.matrix[:, j, i]
        return [{"pair": [self.modalities[i[p]], self.modalities[j[p]]], "share": float(pair_share[p]),
                 "ci": None if ci is None else [float(ci[0, p]), float(ci[1, p])],
                 "mean_abs": float(np.abs(pair[:, p]).mean()), "mean": float(pair[:, p].mean())}
                for p in order]

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
        ``ExplainSettings.bootstrap``) resample the N patients with replacement. Returns ``[low, high]``
        for ``"intershap"``, each of ``"shares"``, each variance-decomposition
        share (``"variance_shares"``, and ``"variance_interaction_share"``), and,
        when times and events are known, ``"c_index"``, ``"additive_c_index"`` and their ``"difference"``.
        """
        n_boot = n_boot if n_boot is not None else (self.bootstrap or DEFAULT_EXPLAIN.bootstrap)
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


