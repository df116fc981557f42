"""fit / FittedModel: training on the cohort it is given, early stopping on its
validation part, reproducibility, the additivity of trained late fusion, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchsurv.loss.cox import neg_partial_log_likelihood

import intersurv
from intersurv import Cohort
from intersurv.errors import IntersurvError
from intersurv.training import FittedModel, fit, fitted
from intersurv.training.settings import DEFAULT_TRAIN

ALL = ["unimodal:a", "early", "late", "cross_attention", "bilinear", "gated", "kronecker"]
FAST = {"max_epochs": 3, "hidden": 8}


def toy_cohort(n: int = 80, m: int = 2, seed: int = 0, events: int | None = None) -> Cohort:
    """Exponential times with log-hazard a0 + b0 + a1*b1; modalities on different scales."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(n, 6)), rng.normal(size=(n, 5)), rng.normal(size=(n, 4))
    h = a[:, 0] + b[:, 0] + a[:, 1] * b[:, 1]
    t_event = rng.exponential(np.exp(-h))
    t_cens = rng.exponential(2.0, size=n)
    time = np.minimum(t_event, t_cens) + 1e-3
    event = (t_event <= t_cens).astype(int)
    if events is not None:  # keep only the first `events` events
        event[np.flatnonzero(event)[events:]] = 0
    mods = {"a": 100.0 * a + 50.0, "b": 0.01 * b - 3.0, "c": c}
    return Cohort(ids=[f"P{i:03d}" for i in range(n)], time=time, event=event,
                  modalities=dict(list(mods.items())[:m]), name="toy")


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return toy_cohort(n=120, m=2)


@pytest.fixture(scope="module")
def late_model(cohort: Cohort) -> FittedModel:
    return fit(cohort, "late", seed=1, max_epochs=60, patience=10)


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("arch", ALL)
def test_every_architecture_trains_and_predicts(arch: str, m: int) -> None:
    c = toy_cohort(n=40, m=m)
    model = fit(c, arch, seed=0, **FAST)
    h = model.predict_log_risk(c.X)
    assert h.shape == (40,) and h.dtype == np.float64 and np.isfinite(h).all()
    assert model.modalities == (["a"] if arch == "unimodal:a" else c.modality_names)
    assert model.n_params > 0 and len(model.history["train"]) == len(model.history["val"]) <= 3
    assert np.array_equal(model(c.X), h)


def test_intersurv_fit_is_the_training_fit() -> None:
    assert intersurv.fit is fit


def test_trained_late_model_is_additive(cohort: Cohort, late_model: FittedModel) -> None:
    # h(x1,x2) - h(x1,z2) - h(z1,x2) + h(z1,z2) for random patients x and z.
    rng = np.random.default_rng(5)
    x_i, z_i = rng.permutation(cohort.n_patients), rng.permutation(cohort.n_patients)
    X = {m: v[x_i] for m, v in cohort.X.items()}
    Z = {m: v[z_i] for m, v in cohort.X.items()}
    h = late_model.predict_log_risk
    mixed = h(X) - h({"a": X["a"], "b": Z["b"]}) - h({"a": Z["a"], "b": X["b"]}) + h(Z)
    scale = np.abs(h(X)).max()
    assert scale > 0.1  # the model learned something
    assert np.abs(mixed).max() <= 8 * np.finfo(np.float32).eps * scale
    # a fusion model trained the same way is not additive
    gated = fit(cohort, "gated", seed=1, max_epochs=60, patience=10)
    g = gated.predict_log_risk
    mixed_g = g(X) - g({"a": X["a"], "b": Z["b"]}) - g({"a": Z["a"], "b": X["b"]}) + g(Z)
    assert np.abs(mixed_g).max() > 1e3 * np.finfo(np.float32).eps * np.abs(g(X)).max()


def test_same_seed_same_model_other_seed_different(cohort: Cohort) -> None:
    kw = {"max_epochs": 15, "dropout": 0.2}
    a, b = fit(cohort, "cross_attention", seed=3, **kw), fit(cohort, "cross_attention", seed=3, **kw)
    other = fit(cohort, "cross_attention", seed=4, **kw)
    assert np.array_equal(a(cohort.X), b(cohort.X))
    assert a.history == b.history and a.val_ids == b.val_ids
    assert not np.allclose(a(cohort.X), other(cohort.X))
    assert a.val_ids != other.val_ids


def test_mini_batches_are_deterministic_and_skip_batches_without_events() -> None:
    c = toy_cohort(n=60, events=6)  # most batches of 4 have no event (cox loss undefined there)
    a = fit(c, "early", seed=0, batch_size=4, max_epochs=5, patience=5)
    b = fit(c, "early", seed=0, batch_size=4, max_epochs=5, patience=5)
    assert np.isfinite(a.history["train"]).all() and np.array_equal(a(c.X), b(c.X))
    full = fit(c, "early", seed=0, max_epochs=5, patience=5)
    assert not np.array_equal(a(c.X), full(c.X))


def test_global_torch_random_state_is_left_alone(cohort: Cohort) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(cohort, "gated", seed=0, max_epochs=2)
    assert torch.equal(torch.rand(3), expected)


def test_split_uses_only_the_cohort_given(cohort: Cohort, late_model: FittedModel) -> None:
    ids = set(cohort.ids)
    train, val = set(late_model.train_ids), set(late_model.val_ids)
    assert val <= ids and train <= ids and not train & val and train | val == ids
    assert len(val) == round(0.2 * cohort.n_patients)
    # stratified by event: the validation event count is the rounded share of all events
    ev = dict(zip(cohort.ids, cohort.event))
    assert abs(sum(ev[i] for i in val) - 0.2 * cohort.n_events) <= 1
    # a fit on a subset never sees the rest
    sub = cohort.subset(np.arange(0, cohort.n_patients, 2))
    m = fit(sub, "late", seed=1, max_epochs=2)
    assert set(m.train_ids) | set(m.val_ids) == set(sub.ids)


def test_standardisation_fitted_on_training_part_only(cohort: Cohort, late_model: FittedModel) -> None:
    pos = {p: i for i, p in enumerate(cohort.ids)}
    train_rows = [pos[p] for p in late_model.train_ids]
    for m in ("a", "b"):
        x = cohort.modalities[m][train_rows].astype(np.float64)
        np.testing.assert_allclose(late_model.standardizer.mean[m], x.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(late_model.standardizer.scale[m], x.std(axis=0), rtol=1e-5)
        # the reference set is the raw training part
        np.testing.assert_array_equal(late_model.reference[m], cohort.modalities[m][train_rows])
    # the whole cohort has a different mean: the validation patients were left out
    assert not np.allclose(late_model.standardizer.mean["a"], cohort.modalities["a"].mean(axis=0), rtol=1e-6)


def test_constant_feature_is_centred_not_blown_up() -> None:
    c = toy_cohort(n=50)
    a = c.modalities["a"].copy()
    a[:, 2] = 7.0
    c = Cohort(ids=c.ids, time=c.time, event=c.event, modalities={"a": a, "b": c.modalities["b"]})
    model = fit(c, "late", seed=0, max_epochs=2)
    assert model.standardizer.scale["a"][2] == 1.0 and model.standardizer.mean["a"][2] == 7.0
    z = model.standardizer.transform({"a": a, "b": c.modalities["b"]})
    assert np.all(z["a"][:, 2] == 0.0)


def test_early_stopping_restores_the_best_validation_epoch(cohort: Cohort) -> None:
    model = fit(cohort, "bilinear", seed=2, max_epochs=300, patience=5, lr=1e-2, hidden=16)
    val = model.history["val"]
    assert len(val) < 300 and len(val) == model.best_epoch + 5  # stopped by patience
    assert val[model.best_epoch - 1] == min(val)
    # the restored weights give the best epoch's validation loss (independent Cox loss: torchsurv)
    pos = {p: i for i, p in enumerate(cohort.ids)}
    rows = [pos[p] for p in model.val_ids]
    h = torch.from_numpy(model.predict_log_risk({m: x[rows] for m, x in cohort.X.items()}))
    ref = neg_partial_log_likelihood(h, torch.from_numpy(cohort.event[rows].astype(bool)),
                                     torch.from_numpy(cohort.time[rows]), ties_method="efron", reduction="mean")
    assert float(ref) == pytest.approx(val[model.best_epoch - 1], rel=1e-5)


def test_narrow_early_fusion_stops_by_patience_under_the_default_cap() -> None:
    """Issue 24: full-batch Adam takes one step of ~lr per weight and epoch, so a network on few inputs
    with a strong effect needs hundreds of epochs; the default cap must leave that to early stopping."""
    rng = np.random.default_rng(0)
    n = 200
    a, b = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    t_event = rng.exponential(np.exp(-2.5 * (a[:, 0] + b[:, 0])))
    t_cens = rng.exponential(2.0, size=n)
    c = Cohort(ids=[f"P{i:03d}" for i in range(n)], time=np.minimum(t_event, t_cens) + 1e-3,
               event=(t_event <= t_cens).astype(int), modalities={"a": a, "b": b}, name="narrow")
    model = fit(c, "early", seed=1)  # the default settings
    cap, patience = DEFAULT_TRAIN.max_epochs, model.settings["patience"]
    assert model.settings["max_epochs"] == cap
    # the validation loss still improves after epoch 200 (the old cap, which cut this fit short) ...
    assert min(model.history["val"][200:]) < min(model.history["val"][:200])
    # ... and training ends by patience, well before the cap
    assert model.best_epoch < cap and len(model.history["val"]) == model.best_epoch + patience


def test_predict_survival_uses_training_baseline(cohort: Cohort, late_model: FittedModel) -> None:
    times = np.quantile(cohort.time, [0.1, 0.5, 0.9])
    s = late_model.predict_survival(cohort.X, times)
    assert s.shape == (cohort.n_patients, 3)
    assert np.all((s >= 0) & (s <= 1)) and np.all(np.diff(s, axis=1) <= 0)
    h = late_model(cohort.X)
    np.testing.assert_allclose(s, np.exp(-np.outer(np.exp(h), late_model.baseline.cumulative_hazard(times))))
    # higher risk, lower survival
    assert s[np.argmax(h), 1] < s[np.argmin(h), 1]


def test_prediction_in_chunks_matches_one_pass(cohort: Cohort, late_model: FittedModel,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    whole = late_model(cohort.X)
    monkeypatch.setattr(fitted, "_CHUNK_VALUES", 7 * 11)  # 7 rows per forward pass
    np.testing.assert_allclose(late_model(cohort.X), whole, rtol=1e-6, atol=1e-6)


def test_save_load_round_trip(tmp_path: Path, cohort: Cohort) -> None:
    c3 = toy_cohort(n=60, m=3)
    for arch in ("cross_attention", "kronecker", "unimodal:b"):
        model = fit(c3, arch, seed=0, max_epochs=4)
        out = model.save(tmp_path / arch)
        assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.safetensors"]
        loaded = FittedModel.load(out)
        assert np.array_equal(loaded(c3.X), model(c3.X))
        times = np.array([0.2, 0.5])
        assert np.array_equal(loaded.predict_survival(c3.X, times), model.predict_survival(c3.X, times))
        for attr in ("arch", "modalities", "widths", "hyper", "train_ids", "val_ids", "history",
                     "best_epoch", "n_params", "settings"):
            assert getattr(loaded, attr) == getattr(model, attr), attr
        assert loaded.reference is None
        ref = {m: v[:5] for m, v in c3.X.items()}
        assert FittedModel.load(out, reference=ref).reference is ref
        cfg = json.loads((out / "model.json").read_text())
        assert cfg["arch"] == arch and cfg["n_params"] == model.n_params


def test_load_rejects_broken_checkpoints(tmp_path: Path) -> None:
    c = toy_cohort(n=40)
    model = fit(c, "late", seed=0, max_epochs=2)
    model.save(tmp_path / "m")
    with pytest.raises(IntersurvError, match="no such file"):
        FittedModel.load(tmp_path / "missing")
    with pytest.raises(IntersurvError, match="reference data has no modality 'b'"):
        FittedModel.load(tmp_path / "m", reference={"a": c.modalities["a"]})
    cfg = json.loads((tmp_path / "m" / "model.json").read_text())
    cfg["hyper"]["hidden"] = [5]
    (tmp_path / "m" / "model.json").write_text(json.dumps(cfg))
    with pytest.raises(IntersurvError, match="weights do not match"):
        FittedModel.load(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text("{not json")
    with pytest.raises(IntersurvError, match="not valid JSON"):
        FittedModel.load(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text(json.dumps({**cfg, "format": "other"}))
    with pytest.raises(IntersurvError, match="not an intersurv model"):
        FittedModel.load(tmp_path / "m")
    (tmp_path / "m" / "model.json").write_text(json.dumps(cfg))
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(IntersurvError, match="unreadable safetensors"):
        FittedModel.load(tmp_path / "m")


@pytest.mark.parametrize(("arch", "kwargs", "message"), [
    ("resnet", {}, "unknown architecture 'resnet'"),
    ("unimodal:wsi", {}, "no modality 'wsi'"),
    ("late", {"rank": 3}, "has no hyperparameter 'rank'"),
    ("late", {"val_fraction": 1.5}, "val_fraction must be between 0 and 1"),
    ("late", {"batch_size": 1}, "batch_size must be None"),
    ("late", {"ties": "exact"}, "ties must be one of efron, breslow"),
    ("late", {"max_epochs": 0}, "max_epochs must be a positive integer"),
    ("late", {"patience": 0}, "patience must be a positive integer"),
    ("late", {"lr": -1.0}, "lr must be a positive number"),
    ("late", {"weight_decay": -1.0}, "weight_decay must be a number >= 0"),
])
def test_bad_options_are_one_line_errors(arch: str, kwargs: dict, message: str) -> None:
    with pytest.raises(IntersurvError) as err:
        fit(toy_cohort(n=30), arch, **kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cohort_errors() -> None:
    one = toy_cohort(n=30, m=1)
    with pytest.raises(IntersurvError, match="needs at least 2 modalities, got 1"):
        fit(one, "kronecker")
    with pytest.raises(IntersurvError, match="validation part .* has no events"):
        fit(toy_cohort(n=30, events=2), "late")
    model = fit(toy_cohort(n=30), "late", seed=0, max_epochs=1)
    with pytest.raises(IntersurvError, match="input has no modality 'b'"):
        model({"a": np.zeros((2, 6))})
    with pytest.raises(IntersurvError, match=r"modality 'b' has shape \(2, 4\), expected \(N, 5\)"):
        model({"a": np.zeros((2, 6)), "b": np.zeros((2, 4))})
    with pytest.raises(IntersurvError, match="different numbers of rows"):
        model({"a": np.zeros((2, 6)), "b": np.zeros((3, 5))})
