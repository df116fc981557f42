"""``explain`` end to end on survival-shaped (Cox log-risk) models: known answers, maskers, outputs."""

from __future__ import annotations

import json
from itertools import product

import numpy as np
import pytest
import torch

from intersurv import Cohort, explain
from intersurv.errors import IntersurvError
from intersurv.interactions import interaction_over_time
from intersurv.interactions.coalitions import coalition_members

MASKERS = ["mean", "zero", "marginal", "shuffle"]


def _cox_cohort(h: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Times and events from a Cox model with hazard 0.05 exp(h) and uniform censoring."""
    t_event = rng.exponential(1.0 / (0.05 * np.exp(h)))
    t_cens = rng.uniform(1.0, 60.0, size=len(h))
    return np.minimum(t_event, t_cens), (t_event <= t_cens).astype(int)


def _data(rng: np.random.Generator, n: int, widths: dict[str, int], dtype: type = np.float64) -> dict:
    return {m: rng.normal(size=(n, d)).astype(dtype) for m, d in widths.items()}


class ExpBaseline:
    """A Breslow-like baseline with H0(t) = lam t: S(t|x) = exp(-lam t e^h), closed-form RMST."""

    lam = 0.05

    def survival(self, log_risk: np.ndarray, times: np.ndarray) -> np.ndarray:
        return np.exp(-self.lam * np.outer(np.exp(log_risk), times))

    def rmst(self, log_risk: np.ndarray, tau: float) -> np.ndarray:
        rate = self.lam * np.exp(log_risk)
        return (1.0 - np.exp(-rate * tau)) / rate


class CoxModel:
    """A model as intersurv sees it: a log-risk callable with modalities, reference and baseline."""

    def __init__(self, fn, modalities, reference=None, baseline=None):
        self.fn, self.modalities, self.reference, self.baseline = fn, list(modalities), reference, baseline
        self.calls: list[int] = []

    def __call__(self, X: dict[str, np.ndarray]) -> np.ndarray:
        assert list(X) == self.modalities
        self.calls.append(len(next(iter(X.values()))))
        return self.fn(X)


W = {"wsi": np.linspace(-1, 1, 6), "rna": np.linspace(0.5, -0.3, 4), "cli": np.array([0.7, -0.2])}


def additive_h(X):
    return np.tanh(X["wsi"] @ W["wsi"]) + 0.5 * (X["rna"] @ W["rna"]) ** 2 - X["cli"] @ W["cli"]


def interacting_h(X):
    pairs = 0.8 * np.tanh(X["wsi"][:, 0] * X["rna"][:, 1]) + 0.3 * X["rna"][:, 0] * X["cli"][:, 1]
    return additive_h(X) + pairs


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    widths = {"wsi": 6, "rna": 4, "cli": 2}
    return _data(rng, 40, widths), _data(rng, 70, widths)


@pytest.mark.parametrize("masker", MASKERS)
def test_additive_log_risk_has_zero_interaction(data, masker):
    X, ref = data
    e = explain(additive_h, X, reference=ref, masker=masker, background=30)
    assert e.score() <= 1e-12
    off = e.matrix - np.einsum("nii->ni", e.matrix)[:, :, None] * np.eye(3)
    assert np.abs(off).max() <= 1e-12
    for agg in ("paper", "local_mean"):
        assert e.score(agg) <= 1e-12
    # exp() of an additive log-risk is not additive: the risk scale shows interaction
    if masker == "mean":
        assert explain(additive_h, X, reference=ref, masker=masker, output="risk").score() > 0.01


@pytest.mark.parametrize("masker", MASKERS)
def test_one_modality_model(data, masker):
    X, ref = data
    X2 = {m: X[m] for m in ("wsi", "rna")}
    e = explain(lambda X: np.sin(X["rna"] @ W["rna"]) * 2.0, X2, reference=ref, masker=masker,
                background=30)
    assert e.score() <= 1e-12
    shares = e.shares()
    assert shares["wsi"] <= 1e-12
    assert shares["rna"] == pytest.approx(1.0, abs=1e-12)
    assert np.abs(e.shapley[:, 0]).max() <= 1e-12


def test_pure_synergy_with_marginal_masker_on_balanced_reference():
    rng = np.random.default_rng(1)
    # balanced reference: every sign combination equally often, centred values
    signs = np.array(list(product([-1.0, 1.0], repeat=2)))
    s = np.repeat(signs, 25, axis=0)
    ref = {m: s[:, i:i + 1] * rng.uniform(0.1, 2.0, size=(100, 1)) for i, m in enumerate(["wsi", "rna"])}
    X = _data(rng, 50, {"wsi": 1, "rna": 1})

    def h(X):
        return 1.2 * np.sign(X["wsi"][:, 0]) * np.sign(X["rna"][:, 0])

    e = explain(h, X, reference=ref, masker="marginal", background=100)
    assert e.background == 100
    assert e.score() >= 0.99
    assert e.score("local_mean") >= 0.99
    np.testing.assert_allclose(np.abs(e.matrix[:, 0, 1]), 0.6, atol=1e-12)
    # with the mean masker the same model is not pure interaction (sign(mean) is not 0)
    assert explain(h, X, reference=ref, masker="mean").score() < 0.99


class LateFusion(torch.nn.Module):
    """Sum of per-modality MLP log-risks: additive by construction, float32."""

    def __init__(self, widths: dict[str, int]):
        super().__init__()
        self.nets = torch.nn.ModuleDict({
            m: torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
            for m, d in widths.items()
        })

    def forward(self, X: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(net(X[m]).squeeze(-1) for m, net in self.nets.items())


@pytest.mark.parametrize("masker", MASKERS)
def test_late_fusion_torch_model_is_zero_through_the_coalition_code(masker):
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    widths = {"wsi": 8, "rna": 5}
    net = LateFusion(widths).eval()
    grad_modes = []

    def f(X):
        grad_modes.append(torch.is_grad_enabled())
        return net({m: torch.from_numpy(np.ascontiguousarray(x)) for m, x in X.items()}).numpy().astype(float)

    X, ref = _data(rng, 60, widths, np.float32), _data(rng, 80, widths, np.float32)
    e = explain(f, X, reference=ref, masker=masker, background=20)
    scale = np.abs(e.coalition_values).max()
    assert e.score() < 1e-5
    assert np.abs(e.matrix[:, 0, 1]).max() <= 4 * np.finfo(np.float32).eps * scale
    assert grad_modes and not any(grad_modes)  # no autograd graph is built


def test_permuting_modalities_permutes_the_matrix(data):
    X, ref = data
    order = ["wsi", "rna", "cli"]
    e = explain(CoxModel(interacting_h, order), X, reference=ref)
    perm = [2, 0, 1]
    e2 = explain(CoxModel(interacting_h, [order[p] for p in perm]), X, reference=ref)
    assert e2.modalities == ["cli", "wsi", "rna"]
    np.testing.assert_allclose(e2.matrix, e.matrix[:, perm][:, :, perm], atol=1e-12)
    np.testing.assert_allclose(e2.shapley, e.shapley[:, perm], atol=1e-12)
    assert e2.score() == pytest.approx(e.score(), abs=1e-12)
    # a plain callable follows the order of X
    e3 = explain(interacting_h, {m: X[m] for m in ["cli", "wsi", "rna"]}, reference=ref)
    np.testing.assert_allclose(e3.matrix, e2.matrix, atol=1e-12)


def _naive_value(f, X, ref_rows, a, keep, modalities):
    """v_a(S) by definition: one forward pass per background row, per patient, per coalition."""
    vals = []
    for r in ref_rows:
        row = {m: (X[m][a:a + 1] if keep[i] else r[m][None, :]) for i, m in enumerate(modalities)}
        vals.append(f(row)[0])
    return np.mean(vals)


@pytest.mark.parametrize("masker", ["mean", "zero", "marginal"])
def test_coalition_values_equal_the_definition(data, masker):
    X, ref = data
    mods = list(X)
    X = {m: x[:9] for m, x in X.items()}
    model = CoxModel(interacting_h, mods)
    e = explain(model, X, reference=ref, masker=masker, background=500, batch_size=7)
    if masker == "mean":
        rows = [{m: ref[m].mean(axis=0) for m in mods}]
    elif masker == "zero":
        rows = [{m: np.zeros(ref[m].shape[1]) for m in mods}]
    else:  # background 500 > 70 reference patients: all of them
        rows = [{m: ref[m][k] for m in mods} for k in range(70)]
    members = coalition_members(3)
    for a in range(9):
        for c in range(8):
            assert e.coalition_values[a, c] == pytest.approx(
                _naive_value(interacting_h, X, rows, a, members[c], mods), abs=1e-12)
    # memory is bounded by the batch size (at least one patient's K rows per pass)
    k = 1 if masker != "marginal" else 70
    assert max(model.calls) <= max(7, k)
    # the full coalition is evaluated once per patient; the empty one once (shared background)
    assert sum(model.calls) == 9 + k + 6 * 9 * k


def test_marginal_background_is_a_seeded_subset(data):
    X, ref = data
    e1 = explain(interacting_h, X, reference=ref, masker="marginal", background=10, seed=3)
    e2 = explain(interacting_h, X, reference=ref, masker="marginal", background=10, seed=3)
    e3 = explain(interacting_h, X, reference=ref, masker="marginal", background=10, seed=4)
    np.testing.assert_array_equal(e1.coalition_values, e2.coalition_values)
    assert not np.allclose(e1.coalition_values[:, 0], e3.coalition_values[:, 0])
    # v(empty) is the mean over 10 distinct reference patients
    h_ref = interacting_h(ref)
    v0 = e1.coalition_values[0, 0]
    assert e1.background == 10 and h_ref.min() < v0 < h_ref.max()


def test_shuffle_uses_one_reference_patient_per_patient(data):
    X, ref = data
    mods = list(X)
    e = explain(interacting_h, X, reference=ref, masker="shuffle", seed=5)
    h_ref = interacting_h(ref)
    members = coalition_members(3)
    for a in range(len(X["wsi"])):
        r = int(np.argmin(np.abs(h_ref - e.coalition_values[a, 0])))
        assert h_ref[r] == pytest.approx(e.coalition_values[a, 0], abs=1e-12)
        row = {m: ref[m][r] for m in mods}
        for c in range(8):
            assert e.coalition_values[a, c] == pytest.approx(
                _naive_value(interacting_h, X, [row], a, members[c], mods), abs=1e-12)


def test_batch_size_does_not_change_the_values(data):
    X, ref = data
    e1 = explain(interacting_h, X, reference=ref, masker="marginal", background=15, batch_size=1)
    e2 = explain(interacting_h, X, reference=ref, masker="marginal", background=15, batch_size=10_000)
    np.testing.assert_allclose(e1.coalition_values, e2.coalition_values, atol=1e-12)


def test_survival_and_rmst_outputs_use_the_baseline(data):
    X, ref = data
    base = ExpBaseline()
    model = CoxModel(interacting_h, list(X), reference=ref, baseline=base)
    h = interacting_h(X)
    e = explain(model, X, output="survival@12")
    assert e.output == "survival@12"
    np.testing.assert_allclose(e.coalition_values[:, -1], np.exp(-0.05 * 12 * np.exp(h)), rtol=1e-12)
    r = explain(model, X, output="rmst@24.5")
    rate = 0.05 * np.exp(h)
    np.testing.assert_allclose(r.coalition_values[:, -1], (1 - np.exp(-rate * 24.5)) / rate, rtol=1e-12)
    # the reference defaults to model.reference
    np.testing.assert_array_equal(explain(model, X, reference=ref).coalition_values,
                                  explain(model, X).coalition_values)
    with pytest.raises(IntersurvError, match="baseline"):
        explain(CoxModel(interacting_h, list(X), reference=ref), X, output="survival@12")


def test_interaction_over_time_matches_explain_per_time(data):
    X, ref = data
    model = CoxModel(additive_h, list(X), reference=ref, baseline=ExpBaseline())
    curve = interaction_over_time(model, X, [1.0, 10.0, 40.0], bootstrap=50)
    assert list(curve["time"]) == [1.0, 10.0, 40.0]
    for _, row in curve.iterrows():
        e = explain(model, X, output=f"survival@{row['time']:g}")
        assert row["intershap"] == pytest.approx(e.score(), abs=1e-12)
        assert row["share_rna"] == pytest.approx(e.shares()["rna"], abs=1e-12)
        assert row["intershap_low"] <= row["intershap"] <= row["intershap_high"]
    # an additive log-risk still interacts on the survival scale, and the share moves with t
    assert curve["intershap"].min() > 0 and curve["intershap"].nunique() == 3


def harrell_c(risk, time, event):
    """The independent reference: scikit-survival's Harrell C."""
    from sksurv.metrics import concordance_index_censored

    return concordance_index_censored(np.asarray(event, bool), np.asarray(time, float), risk)[0]


def test_cohort_input_cost_of_additivity_and_frame(data):
    X, ref = data
    rng = np.random.default_rng(6)
    time, event = _cox_cohort(interacting_h(X), rng)
    ids = [f"P{i:03d}" for i in range(40)]
    cohort = Cohort(ids=ids, time=time, event=event, modalities=X)
    model = CoxModel(interacting_h, list(X), reference=ref, baseline=ExpBaseline())
    e = explain(model, cohort, masker="marginal", background=25, bootstrap=40)
    cost = e.cost_of_additivity()
    f = interacting_h({m: x.astype(np.float32) for m, x in X.items()})
    f_add = e.coalition_values[:, [1, 2, 4]].sum(axis=1) - 2 * e.coalition_values[:, 0]
    assert cost["c_index"] == pytest.approx(harrell_c(f, time, event), abs=1e-12)
    assert cost["additive_c_index"] == pytest.approx(harrell_c(f_add, time, event), abs=1e-12)
    # on the survival scale, larger means lower risk: the C-index is of minus the output
    s = explain(model, cohort, output="survival@10").cost_of_additivity()
    assert s["c_index"] == pytest.approx(cost["c_index"], abs=1e-12)

    frame = e.to_frame()
    assert list(frame["patient_id"]) == ids and len(frame) == 40
    np.testing.assert_allclose(frame["additive"], f_add, atol=1e-12)
    np.testing.assert_allclose(frame["output"], f, atol=1e-12)
    parts = frame[[c for c in frame if c.startswith(("main_", "interaction_"))]].sum(axis=1)
    np.testing.assert_allclose(parts, frame["output"] - frame["baseline"], atol=1e-10)
    assert {"shapley_wsi", "interaction_wsi|rna", "local_intershap", "time", "event"} <= set(frame)

    summary = json.loads(json.dumps(e.summary()))
    assert (summary["masker"], summary["output"], summary["aggregation"]) == ("marginal", "log_risk", "abs")
    assert summary["intershap"] == pytest.approx(e.score())
    lo, hi = summary["bootstrap"]["intershap"]
    assert lo <= e.score() <= hi
    lo, hi = summary["bootstrap"]["c_index"]
    assert lo <= cost["c_index"] <= hi
    assert summary["cost_of_additivity"]["difference"] == pytest.approx(cost["difference"])


def test_additive_model_loses_nothing_by_additivity(data):
    X, ref = data
    time, event = _cox_cohort(additive_h(X), np.random.default_rng(8))
    e = explain(additive_h, X, reference=ref, masker="marginal", time=time, event=event)
    cost = e.cost_of_additivity()
    assert cost["difference"] == 0.0


def test_user_mistakes_raise_intersurv_error(data):
    X, ref = data
    with pytest.raises(IntersurvError, match="no reference set"):
        explain(interacting_h, X)
    assert explain(interacting_h, X, masker="zero").score() > 0  # zero needs no reference
    with pytest.raises(IntersurvError, match="masker 'median'"):
        explain(interacting_h, X, reference=ref, masker="median")
    with pytest.raises(IntersurvError, match="output 'hazard'"):
        explain(interacting_h, X, reference=ref, output="hazard")
    with pytest.raises(IntersurvError, match="survival@-1"):
        explain(interacting_h, X, reference=ref, output="survival@-1")
    with pytest.raises(IntersurvError, match="X has no modality 'path'"):
        explain(CoxModel(interacting_h, ["wsi", "path"]), X, reference=ref)
    with pytest.raises(IntersurvError, match="reference modality 'rna' has 3 features"):
        explain(interacting_h, X, reference={**ref, "rna": ref["rna"][:, :3]})
    with pytest.raises(IntersurvError, match="2 to 12 modalities"):
        explain(lambda X: X["wsi"][:, 0], {"wsi": X["wsi"]}, reference=ref)
    with pytest.raises(IntersurvError, match="model returned shape"):
        explain(lambda X: np.zeros((len(X["wsi"]), 2)), X, reference=ref)
    with pytest.raises(IntersurvError, match="non-finite"):
        explain(lambda X: np.where(X["wsi"][:, 0] > 0, 0.0, np.inf), X, reference=ref)
    bad = {**X, "cli": X["cli"].copy()}
    bad["cli"][3, 1] = np.nan
    with pytest.raises(IntersurvError, match="X modality 'cli' has 1 NaN/inf value"):
        explain(interacting_h, bad, reference=ref)
    with pytest.raises(IntersurvError, match="swift2026"):
        explain(interacting_h, X, reference=ref, aggregation="swift2026")
    with pytest.raises(IntersurvError, match="cost of additivity needs times"):
        explain(interacting_h, X, reference=ref).cost_of_additivity()


def test_eight_modalities_closed_form_pair_interaction():
    rng = np.random.default_rng(9)
    mods = [f"m{i}" for i in range(8)]
    X, ref = _data(rng, 12, dict.fromkeys(mods, 2)), _data(rng, 30, dict.fromkeys(mods, 2))

    def h(X):
        main = sum(np.tanh(X[m] @ [0.4, -0.2 * i]) for i, m in enumerate(mods))
        return main + 0.7 * X["m2"][:, 0] * X["m5"][:, 1]

    e = explain(h, X, reference=ref, masker="mean", batch_size=64)
    assert e.coalition_values.shape == (12, 256)
    z2, z5 = ref["m2"][:, 0].mean(), ref["m5"][:, 1].mean()
    # D_25 = h(x2, x5) - h(x2, z5) - h(z2, x5) + h(z2, z5) = 0.7 (x2 - z2)(x5 - z5), whatever the others
    expected = 0.7 * (X["m2"][:, 0] - z2) * (X["m5"][:, 1] - z5) / 2
    np.testing.assert_allclose(e.matrix[:, 2, 5], expected, atol=1e-12)
    np.testing.assert_allclose(e.matrix[:, 5, 2], expected, atol=1e-12)
    off = e.matrix.copy()
    off[:, [2, 5], [5, 2]] = 0
    off[:, range(8), range(8)] = 0
    assert np.abs(off).max() <= 1e-12


def _cox_breslow_nll(log_risk: torch.Tensor, time: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
    """Cox negative partial log-likelihood, Breslow ties (continuous times here: no ties)."""
    order = torch.argsort(time, descending=True)
    h, d = log_risk[order], event[order]
    return -((h - torch.logcumsumexp(h, dim=0)) * d).sum() / d.sum()


@pytest.mark.parametrize("arch", ["late", "early"])
def test_registry_architectures_trained_with_a_cox_loss(arch):
    from intersurv.models import build_model
    rng = np.random.default_rng(12)
    widths = {"wsi": 6, "rna": 4}
    X = _data(rng, 150, widths, np.float32)
    h = np.tanh(X["wsi"] @ W["wsi"]) + X["rna"] @ W["rna"] + X["wsi"][:, 0] * X["rna"][:, 0]
    time, event = _cox_cohort(h, rng)
    torch.manual_seed(0)
    net = build_model(arch, widths)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    train, test = {m: x[:110] for m, x in X.items()}, {m: x[110:] for m, x in X.items()}
    Xt = {m: torch.from_numpy(x) for m, x in train.items()}
    t, d = torch.from_numpy(time[:110]), torch.from_numpy(event[:110].astype(np.float64))
    for _ in range(30):
        opt.zero_grad()
        _cox_breslow_nll(net(Xt).double(), t, d).backward()
        opt.step()
    net.eval()

    def f(X):
        return net({m: torch.from_numpy(np.ascontiguousarray(x)) for m, x in X.items()}).numpy()

    for masker in ("mean", "marginal"):
        e = explain(f, test, reference=train, masker=masker, background=30)
        if arch == "late":  # additive by construction: zero up to float32 rounding
            assert e.score() < 1e-5
            assert np.abs(e.matrix[:, 0, 1]).max() <= 1e-5 * np.abs(e.coalition_values).max()
        else:  # the same code finds the interaction of an early-fusion MLP
            assert e.score() > 1e-3


def test_a_trained_late_fusion_model_has_zero_interaction():
    from intersurv import fit
    rng = np.random.default_rng(11)
    X = _data(rng, 120, {"wsi": 6, "rna": 4}, np.float32)
    h = np.tanh(X["wsi"] @ W["wsi"]) + X["rna"] @ W["rna"] + X["wsi"][:, 0] * X["rna"][:, 0]
    time, event = _cox_cohort(h, rng)
    cohort = Cohort(ids=[f"P{i}" for i in range(120)], time=time, event=event, modalities=X)
    model = fit(cohort, arch="late", seed=0, max_epochs=3)
    for masker in ("mean", "marginal"):
        e = explain(model, cohort, masker=masker, background=20)  # reference: the model's training data
        assert e.score() < 1e-5
        assert np.abs(e.matrix[:, 0, 1]).max() <= 1e-5 * np.abs(e.coalition_values).max()
    # survival through the model's own Breslow baseline
    t = float(np.median(time))
    s = explain(model, cohort, output=f"survival@{t}")
    direct = model.predict_survival(cohort.X, np.array([t]))[:, 0]
    np.testing.assert_allclose(s.coalition_values[:, -1], direct, rtol=1e-6)
    curve = interaction_over_time(model, cohort, [t])
    assert curve["intershap"][0] == pytest.approx(s.score(), abs=1e-12)
