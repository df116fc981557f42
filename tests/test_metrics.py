"""Metrics equal scikit-survival's and lifelines'; bootstrap CIs are reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from intersurv.errors import IntersurvError
from intersurv.metrics import default_horizons, evaluate, harrell_c
from intersurv.survival import BreslowBaseline


def data(seed: int, n: int):
    rng = np.random.default_rng(seed)
    h = np.round(rng.normal(size=n), 1)  # tied risks
    time = np.round(rng.exponential(30 * np.exp(-0.7 * h)), 0) + 1  # tied times
    cens = rng.exponential(50, n)
    event = (time <= cens).astype(int)
    return h, np.minimum(time, np.ceil(cens) + 1), event


def test_harrell_c_equals_lifelines_and_sksurv_with_ties() -> None:
    from lifelines.utils import concordance_index
    from sksurv.metrics import concordance_index_censored

    h, time, event = data(0, 150)
    ours = harrell_c(h, time, event)
    assert ours == pytest.approx(concordance_index(time, -h, event), abs=1e-12)
    assert ours == pytest.approx(concordance_index_censored(event.astype(bool), time, h)[0], abs=1e-12)


def test_evaluate_equals_scikit_survival() -> None:
    from sksurv.metrics import (
        brier_score, concordance_index_ipcw, cumulative_dynamic_auc, integrated_brier_score,
    )
    from sksurv.util import Surv

    h_tr, t_tr, e_tr = data(1, 300)
    h, t, e = data(2, 120)
    horizons = [10.0, 20.0, 30.0]
    res = evaluate(h, t, e, train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=horizons)
    y_tr, y = Surv.from_arrays(e_tr.astype(bool), t_tr), Surv.from_arrays(e.astype(bool), t)
    base = BreslowBaseline.fit(h_tr, t_tr, e_tr)
    tau = np.nextafter(min(t_tr[e_tr == 1].max(), t.max(), t_tr.max()), -np.inf)
    assert res["c_uno"] == pytest.approx(concordance_index_ipcw(y_tr, y, h, tau=tau)[0], abs=1e-10)
    _, bs = brier_score(y_tr, y, base.survival(h, horizons), horizons)
    auc, _ = cumulative_dynamic_auc(y_tr, y, h, horizons)
    grid = np.linspace(t.min(), 30.0, 50)
    ibs = integrated_brier_score(y_tr, y, base.survival(h, grid), grid)
    for i, hz in enumerate(horizons):
        assert res[f"brier@{hz:g}"] == pytest.approx(bs[i], abs=1e-10)
        assert res[f"auc@{hz:g}"] == pytest.approx(auc[i], abs=1e-10)
    assert res["ibs"] == pytest.approx(ibs, abs=1e-10)
    assert res["c_harrell"] == pytest.approx(harrell_c(h, t, e), abs=1e-12)


def test_bootstrap_is_reproducible_and_contains_the_estimate() -> None:
    h_tr, t_tr, e_tr = data(3, 300)
    h, t, e = data(4, 150)
    kw = dict(train_log_risk=h_tr, train_time=t_tr, train_event=e_tr, horizons=[10.0, 20.0], bootstrap=50)
    a = evaluate(h, t, e, seed=7, **kw)
    b = evaluate(h, t, e, seed=7, **kw)
    c = evaluate(h, t, e, seed=8, **kw)
    assert a == b and a["c_harrell_ci"] != c["c_harrell_ci"]
    assert a["n_bootstrap"] == 50
    for key in ("c_harrell", "c_uno", "ibs", "brier@10", "auc@20"):
        lo, hi = a[f"{key}_ci"]
        assert lo <= a[key] <= hi


def test_horizon_outside_follow_up_is_a_one_line_error() -> None:
    h, t, e = data(5, 100)
    with pytest.raises(IntersurvError, match=r"horizon 10000 is outside the test follow-up: allowed range"):
        evaluate(h, t, e, train_log_risk=h, train_time=t, train_event=e, horizons=[10.0, 1e4])


def test_default_horizons_convert_units_and_clip() -> None:
    t = np.linspace(1, 50, 100)  # months
    assert default_horizons("months", t, t) == [12.0, 36.0]
    years = t / 12
    assert default_horizons("years", years, years) == [1.0, 3.0]
    days = np.linspace(10, 1500, 50)
    assert default_horizons("days", days, days) == pytest.approx([365.25, 1095.75])
