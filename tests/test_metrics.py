"""Metrics against lifelines, scikit-survival and a hand-written IPCW Brier score."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from intersurv.errors import IntersurvError
from intersurv.metrics import default_horizons, evaluate, harrell_c
from intersurv.survival import BreslowBaseline


def _cohort(n: int, seed: int, follow_up: float):
    """Cox-exponential times with uniform censoring, rounded to whole units (tied times)."""
    rng = np.random.default_rng(seed)
    h = np.round(rng.normal(size=n), 1)  # tied risks
    t_event = rng.exponential(30.0 * np.exp(-h))
    t_cens = rng.uniform(5.0, follow_up, n)
    return h, np.ceil(np.minimum(t_event, t_cens)), t_event <= t_cens


@pytest.fixture(scope="module")
def split():
    h_tr, t_tr, e_tr = _cohort(150, 1, follow_up=120.0)
    h_te, t_te, e_te = _cohort(90, 2, follow_up=80.0)
    return dict(train=(h_tr, t_tr, e_tr), test=(h_te, t_te, e_te))


def test_harrell_c_matches_lifelines_and_sksurv_with_ties(split):
    from lifelines.utils import concordance_index
    from sksurv.metrics import concordance_index_censored

    h, t, e = split["test"]
    assert len(np.unique(t)) < t.size and len(np.unique(h)) < h.size
    ours = harrell_c(h, t, e)
    assert ours == pytest.approx(concordance_index(t, -h, e), abs=1e-12)
    assert ours == pytest.approx(concordance_index_censored(e, t, h)[0], abs=1e-12)
    assert harrell_c(-h, t, e) == pytest.approx(1.0 - ours, abs=1e-12)


def test_harrell_c_tied_risks_count_half():
    # pairs (1,2),(1,3),(2,3) comparable; risks tie on (1,2) -> (0.5 + 1 + 1) / 3
    assert harrell_c([1.0, 1.0, 0.0], [1.0, 2.0, 3.0], [1, 1, 0]) == pytest.approx(2.5 / 3)
    with pytest.raises(IntersurvError, match="no events"):
        harrell_c([1.0, 0.0], [1.0, 2.0], [0, 0])


def test_evaluate_equals_sksurv(split):
    from sksurv.metrics import (brier_score, concordance_index_ipcw, cumulative_dynamic_auc,
                                integrated_brier_score)
    from sksurv.util import Surv

    (h_tr, t_tr, e_tr), (h, t, e) = split["train"], split["test"]
    horizons = [12.0, 30.5, 60.0]
    out = evaluate(h, t, e, train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=horizons)
    assert set(out) == {"c_harrell", "c_uno", "ibs", "brier@12", "brier@30.5", "brier@60",
                        "auc@12", "auc@30.5", "auc@60"}
    y_tr, y_te = Surv.from_arrays(e_tr, t_tr), Surv.from_arrays(e, t)
    base = BreslowBaseline.fit(h_tr, t_tr, e_tr)
    hz = np.array(horizons)
    _, brier = brier_score(y_tr, y_te, base.survival(h, hz), hz)
    auc, _ = cumulative_dynamic_auc(y_tr, y_te, h, hz)
    grid = np.linspace(t.min(), hz.max(), 100)
    ibs = integrated_brier_score(y_tr, y_te, base.survival(h, grid), grid)
    assert out["c_uno"] == pytest.approx(concordance_index_ipcw(y_tr, y_te, h, tau=60.0)[0], abs=1e-10)
    assert out["ibs"] == pytest.approx(ibs, abs=1e-10)
    for k, th in enumerate(horizons):
        assert out[f"brier@{th:g}"] == pytest.approx(brier[k], abs=1e-10)
        assert out[f"auc@{th:g}"] == pytest.approx(auc[k], abs=1e-10)
    shuffled = evaluate(h, t, e, train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=horizons[::-1])
    assert shuffled == out


def _censoring_km(time: np.ndarray, event: np.ndarray):
    """Kaplan-Meier of the censoring times; at tied times the events leave the risk set first."""
    uniq = np.unique(time)
    at_risk = np.array([np.sum(time >= u) for u in uniq])
    deaths = np.array([np.sum((time == u) & event) for u in uniq])
    censored = np.array([np.sum((time == u) & ~event) for u in uniq])
    steps = np.cumprod(1.0 - censored / (at_risk - deaths))
    return lambda s: np.array([steps[uniq <= x][-1] if np.any(uniq <= x) else 1.0 for x in np.atleast_1d(s)])


def test_brier_matches_hand_written_ipcw(split):
    (h_tr, t_tr, e_tr), (h, t, e) = split["train"], split["test"]
    th = 24.0
    out = evaluate(h, t, e, train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=[th])
    G = _censoring_km(t_tr, e_tr)
    S = BreslowBaseline.fit(h_tr, t_tr, e_tr).survival(h, [th])[:, 0]
    case, control = (t <= th) & e, t > th
    # Graf et al.: cases weighted by 1/G(T_i), controls by 1/G(t)
    terms = np.where(case, S**2 / G(t), 0.0) + np.where(control, (1 - S) ** 2 / G(th)[0], 0.0)
    assert out["brier@24"] == pytest.approx(terms.mean(), abs=1e-10)


def test_follow_up_beyond_training_is_handled(split):
    (h_tr, t_tr, e_tr), (h, t, e) = split["train"], split["test"]
    t_long = np.where(t == t.max(), t_tr.max() + 50.0, t)  # past the training follow-up
    a = evaluate(h, t, e, train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=[12.0, 60.0])
    b = evaluate(h, t_long, e, train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=[12.0, 60.0])
    assert min(t.max(), t_tr.max()) != t_tr.max()  # the truncation point moves
    for key in a:
        assert b[key] == pytest.approx(a[key], abs=1e-12), key


def test_horizon_outside_follow_up_is_a_one_line_error(split):
    (h_tr, t_tr, e_tr), (h, t, e) = split["train"], split["test"]
    upper = min(t.max(), t_tr.max())
    with pytest.raises(IntersurvError, match=rf"horizon 500 .*\[{t.min():g}, {upper:g}\)"):
        evaluate(h, t, e, train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=[12.0, 500.0])
    with pytest.raises(IntersurvError, match="horizon 0.5"):
        evaluate(h, t, e, train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=[0.5])
    th = t[e].min() + 0.5  # times are whole numbers
    late = e & (t > th)  # the same data without the earliest events
    with pytest.raises(IntersurvError, match=f"horizon {th:g}: no test event"):
        evaluate(h, t, late, train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=[th])


def test_bootstrap_reproducible_and_contains_point(split):
    (h_tr, t_tr, e_tr), (h, t, e) = split["train"], split["test"]
    kw = dict(train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=[12.0, 36.0], bootstrap=40)
    a = evaluate(h, t, e, seed=7, **kw)
    b = evaluate(h, t, e, seed=7, **kw)
    c = evaluate(h, t, e, seed=8, **kw)
    assert a == b
    assert a["c_harrell_ci"] != c["c_harrell_ci"]
    for key in ("c_harrell", "c_uno", "ibs", "brier@12", "brier@36", "auc@12", "auc@36"):
        low, high = a[f"{key}_ci"]
        assert low < a[key] < high, key
    assert "c_harrell_ci" not in evaluate(h, t, e, **{**kw, "bootstrap": 0})


def test_default_horizons_convert_and_clip(caplog):
    train_days = np.array([10.0, 400.0, 2000.0, 3000.0])
    test_days = np.array([5.0, 300.0, 1500.0])
    with caplog.at_level(logging.INFO, logger="intersurv"):
        kept = default_horizons("days", train_days, test_days)
    assert kept == pytest.approx([365.25, 3 * 365.25])
    assert "60 months" in caplog.text and "dropped" in caplog.text
    assert default_horizons("years", [1.0, 9.0], [0.5, 8.0]) == pytest.approx([1.0, 3.0, 5.0])
    assert default_horizons("months", [1.0, 90.0], [2.0, 80.0]) == pytest.approx([12.0, 36.0, 60.0])
    with pytest.raises(IntersurvError, match="fortnights"):
        default_horizons("fortnights", [1.0], [1.0])


def test_default_horizons_drop_those_without_a_test_event_before_them() -> None:
    from intersurv.metrics import default_horizons

    time = np.linspace(5.0, 70.0, 20)
    event = (time > 30).astype(int)  # first event after 30 months
    assert default_horizons("months", time, time) == [12.0, 36.0, 60.0]
    assert default_horizons("months", time, time, event) == [36.0, 60.0]
