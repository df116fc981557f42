"""Paired comparisons of architectures: differences in C and IBS with repeated-CV-aware intervals.

Every architecture of an audit is trained and tested on the same splits: unit
(seed, fold) of architecture A and unit (seed, fold) of architecture B share
their test patients. The comparison of A with a reference R therefore works on
the J paired differences

    d_u = metric(A, u) - metric(R, u),      u = 1..J   (J = seeds x folds, or seeds for hold-out)

for Harrell's C, Uno's C and the integrated Brier score (IBS; lower is better,
so a negative difference favours A). The units share training patients (two
folds of one seed overlap in (k-2)/(k-1) of their training sets; different seeds
reuse everyone), so the d_u are positively correlated and the naive standard
error s / sqrt(J) is too small. The corrected resampled t-test of Nadeau and
Bengio (2003, Machine Learning 52:239-281) inflates the variance of the mean:

    var(d_bar) = (1/J + n_test/n_train) * s^2,      t = d_bar / sqrt(var(d_bar)),   df = J - 1,

with s^2 the sample variance (ddof = 1) of the d_u and n_test / n_train the
sizes of a unit's test set and training fold (training + early-stopping
patients). The 95 % interval is d_bar +- t_{0.975, J-1} sqrt(var(d_bar)); the
p-value is two-sided. ``validation/comparisons.py`` measures its coverage on
models equal by construction (docs/validation.md).

The per-patient view: for each unit, the fraction of the test set's comparable
pairs (i, j) (event_i = 1, time_i < time_j, Harrell's definition) that the two
models order differently (sign(r_i - r_j) differs, a tie counting as an order
of its own); its mean over units is ``discordance``.

References: ``late`` (additive by construction), ``best_unimodal`` (the
unimodal network ``unimodal:<m>`` with the lowest mean Cox partial-likelihood
loss on the early-stopping patients, which are never test patients; by mean
test C only when no unimodal model has a validation loss, which is then
stated as a selection on the test folds), ``clinical`` (when the run
has an architecture of that name) and, for an attention-MIL architecture A
whose pooled twin ``A@pooled`` ran too (:data:`intersurv.models.POOLED_SUFFIX`),
``pooled``: the same architecture on the bags' mean-pooled vectors, on the
same patients (``references["pooled"]`` is the suffix).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..models import POOLED_SUFFIX
from ..training.rundir import Unit

#: Metrics compared, with the key of their difference in the output.
METRICS = {"c_harrell": "delta_c", "c_uno": "delta_c_uno", "ibs": "delta_ibs"}
#: Prefixes of the architectures that see a single modality.
UNIMODAL_PREFIXES = ("unimodal:", "linear:")


@dataclass(frozen=True)
class UnitScores:
    """What a comparison needs of one unit: its test metrics, sizes and test predictions."""

    seed: int
    fold: int
    metrics: dict[str, float]
    n_train: int
    n_test: int
    predictions: pd.DataFrame  # patient_id, time, event, log_risk (test patients)
    val_loss: float | None = None  # Cox loss on the early-stopping patients at the chosen epoch


def resampled_t(diffs: np.ndarray, test_train_ratio: float, *, corrected: bool = True,
                level: float = 0.95) -> dict[str, Any]:
    """Mean of the paired differences with a t interval and two-sided p-value.

    ``corrected``: the Nadeau-Bengio variance (1/J + test_train_ratio) s^2;
    otherwise the naive s^2 / J. With J < 2 the interval and p-value are None;
    with s = 0 the interval is the point and p is 1 for a zero mean, else 0.
    """
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    j = len(d)
    out: dict[str, Any] = {"delta": float(d.mean()) if j else None, "se": None, "ci": [None, None],
                           "p_value": None, "df": j - 1 if j else None, "units": j}
    if j < 2:
        return out
    inflation = 1.0 / j + (test_train_ratio if corrected else 0.0)
    se = math.sqrt(inflation * float(np.var(d, ddof=1)))
    mean = float(d.mean())
    if se == 0.0:
        return {**out, "se": 0.0, "ci": [mean, mean], "p_value": 1.0 if mean == 0.0 else 0.0}
    half = float(stats.t.ppf(0.5 + level / 2, j - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, j - 1))
    return {**out, "se": se, "ci": [mean - half, mean + half], "p_value": p}


def discordance(log_risk_a: np.ndarray, log_risk_b: np.ndarray, time: np.ndarray, event: np.ndarray) -> float:
    """Fraction of comparable pairs (event_i = 1, time_i < time_j) that two risk scores order
    differently; NaN without comparable pairs."""
    a, b = np.asarray(log_risk_a, float), np.asarray(log_risk_b, float)
    t, e = np.asarray(time, float), np.asarray(event).astype(bool)
    comparable = e[:, None] & (t[:, None] < t[None, :])
    if not comparable.any():
        return float("nan")
    differ = np.sign(a[:, None] - a[None, :]) != np.sign(b[:, None] - b[None, :])
    return float(differ[comparable].mean())


def _method(protocol: str, j: int, ratio: float) -> str:
    units = "seeds x folds" if protocol == "cv" else "seeds"
    return (f"paired differences over {j} units ({units}, same test patients), corrected resampled t-test "
            f"(Nadeau & Bengio 2003): var = (1/{j} + {ratio:.3f}) s^2, t with {j - 1} df")


def compare(a: list[UnitScores], ref: list[UnitScores], protocol: str) -> dict[str, Any] | None:
    """Architecture ``a`` against ``ref`` over their common (seed, fold) units; None if they share none."""
    by_key = {(u.seed, u.fold): u for u in ref}
    pairs = [(u, by_key[(u.seed, u.fold)]) for u in a if (u.seed, u.fold) in by_key]
    if not pairs:
        return None
    ratio = float(np.mean([u.n_test for u, _ in pairs]) / np.mean([u.n_train for u, _ in pairs]))
    out: dict[str, Any] = {}
    for metric, key in METRICS.items():
        diffs = np.array([u.metrics.get(metric, np.nan) - r.metrics.get(metric, np.nan) for u, r in pairs],
                         dtype=float)
        test = resampled_t(diffs, ratio)
        entry = {"delta": test["delta"], "ci": test["ci"], "p_value": test["p_value"], "se": test["se"],
                 "values": [float(v) for v in diffs]}
        if key == "delta_c":
            out.update(delta_c=test["delta"], ci=test["ci"], p_value=test["p_value"], se=test["se"],
                       df=test["df"], units=test["units"], values=entry["values"])
        else:
            out[key] = entry
    disc = []
    for u, r in pairs:
        merged = u.predictions.merge(r.predictions[["patient_id", "log_risk"]], on="patient_id",
                                     suffixes=("", "_ref"))
        disc.append(discordance(merged["log_risk"].to_numpy(), merged["log_risk_ref"].to_numpy(),
                                merged["time"].to_numpy(), merged["event"].to_numpy()))
    finite = [d for d in disc if math.isfinite(d)]
    out["discordance"] = {"mean": float(np.mean(finite)) if finite else None, "values": disc,
                          "definition": "fraction of comparable test pairs the two models order differently"}
    out["test_train_ratio"] = ratio
    out["method"] = _method(protocol, len(pairs), ratio)
    return out


def best_unimodal(scores: dict[str, list[UnitScores]]) -> dict[str, Any] | None:
    """The unimodal architecture to compare against, and how it was chosen (None without any).

    Among the unimodal models with a validation loss in every unit (the networks), the lowest
    mean loss wins; models without one (``linear:<m>``, whose penalty is tuned by inner CV) are
    then not candidates. Only when no unimodal model has a validation loss is the choice made
    by mean test C, and the returned ``selection`` says so.
    """
    candidates = {a: s for a, s in scores.items() if a.startswith(UNIMODAL_PREFIXES) and s}
    if not candidates:
        return None
    with_loss = {a: float(np.mean([u.val_loss for u in s])) for a, s in candidates.items()
                 if all(u.val_loss is not None and math.isfinite(u.val_loss) for u in s)}
    if with_loss:
        return {"arch": min(with_loss, key=with_loss.__getitem__),
                "selection": (f"lowest mean Cox loss on the early-stopping (validation) patients among "
                              f"{', '.join(with_loss)}; test patients not used")}
    name = max(candidates, key=lambda a: float(np.nanmean([u.metrics.get("c_harrell", np.nan)
                                                            for u in candidates[a]])))
    return {"arch": name, "selection": ("highest mean Harrell C on the test folds (no unimodal model has a "
                                        "validation loss): a selection on the same test data, so its "
                                        "comparisons favour it slightly")}


def comparisons(scores: dict[str, list[UnitScores]], protocol: str) -> tuple[dict[str, Any], dict[str, str]]:
    """``results["comparisons"]`` (NAME -> REF -> :func:`compare` plus ``ref_arch``) and
    ``results["references"]`` (REF -> architecture, ``pooled`` -> the suffix of the pooled twins, and
    ``best_unimodal_selection``)."""
    refs: dict[str, str] = {}
    if "late" in scores:
        refs["late"] = "late"
    best = best_unimodal(scores)
    if best is not None:
        refs["best_unimodal"] = best["arch"]
    if "clinical" in scores:
        refs["clinical"] = "clinical"
    table: dict[str, Any] = {}
    for name, mine in scores.items():
        row = {}
        for ref, ref_arch in refs.items():
            if ref_arch == name:
                continue
            result = compare(mine, scores[ref_arch], protocol)
            if result is not None:
                row[ref] = {"ref_arch": ref_arch, **result}
        twin = name + POOLED_SUFFIX
        result = compare(mine, scores[twin], protocol) if twin in scores else None
        if result is not None:
            row["pooled"] = {"ref_arch": twin, **result}
        if row:
            table[name] = row
    if any("pooled" in row for row in table.values()):
        refs["pooled"] = POOLED_SUFFIX
    if best is not None:
        refs["best_unimodal_selection"] = best["selection"]
    return table, refs


def unit_scores(unit: Unit) -> UnitScores:
    """Read one finished unit's metrics, sizes, test predictions and validation loss."""
    result = unit.result
    model = json.loads((unit.path / "model.json").read_text()) if (unit.path / "model.json").is_file() else {}
    val = (model.get("history") or {}).get("val") or []
    best = model.get("best_epoch")
    val_loss = float(val[best - 1]) if isinstance(best, int) and 1 <= best <= len(val) else None  # 1-based
    predictions = pd.read_csv(unit.path / "predictions.csv", dtype={"patient_id": str})
    return UnitScores(seed=unit.seed, fold=unit.fold, metrics=dict(result["metrics"]),
                      n_train=int(result["n_train"]) + int(result["n_val"]), n_test=int(result["n_test"]),
                      predictions=predictions, val_loss=val_loss)
