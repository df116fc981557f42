"""Attention MIL: the gated-attention encoder, the MIL fit path, its explanation and its audit.

Tiny bags only (a few dozen patients, <= 40 patches of width 12, few epochs).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import intersurv
from intersurv.bags import BagSet
from intersurv.errors import IntersurvError
from intersurv.interactions.encoded import EncodedHead, encoded_arrays, encoded_cohort
from intersurv.models.mil import GatedAttentionMIL
from intersurv.training.fitted import FittedModel
from intersurv.training.mil_fit import MILFittedModel, attention_table, chunks, model_inputs

TINY = dict(max_epochs=4, patience=2, bag_reduce=6, bag_dim=8, bag_attention=4, bag_patches=16)


def bag_cohort(n: int = 48, seed: int = 0) -> intersurv.Cohort:
    """Bags whose informative patches (20 %) shift feature 0 with the patient's risk, and an RNA block."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    bags, coords = [], []
    for a in range(n):
        k = int(rng.integers(8, 40))
        x = rng.normal(size=(k, 12)).astype(np.float32)
        x[rng.random(k) < 0.2, 0] += 2.0 * risk[a]
        bags.append(x)
        coords.append(rng.integers(0, 5000, size=(k, 2)))
    time = 24.0 * np.exp(-risk + rng.normal(scale=0.3, size=n))
    event = (rng.random(n) < 0.8).astype(int)
    return intersurv.Cohort(ids=[f"p{i}" for i in range(n)], time=time, event=event,
                            modalities={"rna": rng.normal(size=(n, 5))},
                            bags={"wsi": BagSet.from_arrays(bags, coords)}, name="tiny bags")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------ the encoder
@pytest.mark.parametrize(("mean", "heads"), [(False, 1), (True, 2)])
def test_padding_and_batch_neighbours_do_not_change_an_embedding(mean: bool, heads: int) -> None:
    torch.manual_seed(0)
    enc = GatedAttentionMIL(5, dim=7, attention=3, dropout=0.0, mean=mean, heads=heads).eval()
    short, long = torch.randn(4, 5), torch.randn(9, 5)
    torch.set_grad_enabled(False)
    alone_e, alone_a = enc(short[None], torch.ones(1, 4, dtype=torch.bool))
    x = torch.zeros(2, 9, 5)
    x[0, :4], x[1] = short, long
    x[0, 4:] = 1e6  # garbage in the padding must not matter either
    mask = torch.zeros(2, 9, dtype=torch.bool)
    mask[0, :4], mask[1] = True, True
    e, a = enc(x, mask)
    torch.testing.assert_close(e[0], alone_e[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a[0, :4], alone_a[0], rtol=1e-5, atol=1e-7)
    assert torch.all(a[0, 4:] == 0)
    assert float(a[1].sum()) == pytest.approx(1.0, abs=1e-6)
    torch.set_grad_enabled(True)


def test_embedding_is_invariant_to_patch_order() -> None:
    torch.manual_seed(1)
    enc = GatedAttentionMIL(6, dim=8, attention=4, dropout=0.0).eval()
    x = torch.randn(1, 11, 6)
    perm = torch.randperm(11)
    mask = torch.ones(1, 11, dtype=torch.bool)
    e1, a1 = enc(x, mask)
    e2, a2 = enc(x[:, perm], mask)
    torch.testing.assert_close(e1, e2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(a1[:, perm], a2, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(("mean", "heads"), [(False, 1), (True, 1), (True, 2), (False, 3)])
def test_attention_equals_the_direct_per_bag_formula(mean: bool, heads: int) -> None:
    """a_kh = softmax_k(w_h^T (tanh(V h_k) * sigmoid(U h_k))), h_k = ReLU(W x_k + b), in float64; the embedding
    is [sum_k a_k1 h_k, ..., sum_k a_kH h_k] (+ [mean_k h_k] with the bag-mean branch), the reported weight of a
    patch the mean of its H head weights."""
    torch.manual_seed(2)
    enc = GatedAttentionMIL(4, dim=6, attention=3, dropout=0.0, mean=mean, heads=heads).eval()
    assert enc.out_dim == 6 * (heads + mean)
    x = torch.randn(2, 7, 4)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    with torch.no_grad():
        e, a = enc(x, mask)
    p = {k: v.detach().double().numpy() for k, v in enc.state_dict().items()}
    for b, n in ((0, 7), (1, 5)):
        xb = x[b, :n].double().numpy()
        h = np.maximum(xb @ p["project.0.weight"].T + p["project.0.bias"], 0.0)
        gate = np.tanh(h @ p["V.weight"].T + p["V.bias"]) * (1 / (1 + np.exp(-(h @ p["U.weight"].T + p["U.bias"]))))
        weights, parts = [], []
        for head in range(heads):
            s = gate @ p["w.weight"][head] + p["w.bias"][head]
            w = np.exp(s - s.max())
            w /= w.sum()
            weights.append(w)
            parts.append(w @ h)
        if mean:
            parts.append(h.mean(axis=0))
        np.testing.assert_allclose(a[b, :n].numpy(), np.mean(weights, axis=0), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(e[b].numpy(), np.concatenate(parts), rtol=1e-5, atol=1e-6)


def test_chunks_bound_the_padded_size() -> None:
    sizes = np.array([5, 30, 2, 2, 40, 1, 100])
    groups = chunks(sizes, budget=60)
    assert np.concatenate(groups).tolist() == list(range(len(sizes)))
    for g in groups:
        assert len(g) == 1 or len(g) * sizes[g].max() <= 60


# ------------------------------------------------------------------ fitting
@pytest.fixture(scope="module")
def cohort() -> intersurv.Cohort:
    return bag_cohort()


@pytest.fixture(scope="module")
def late(cohort) -> MILFittedModel:
    torch.set_num_threads(1)
    return intersurv.fit(cohort, "late", seed=3, **TINY)


def test_a_network_on_a_bag_modality_is_mil_unless_pooled(cohort, late) -> None:
    assert isinstance(late, MILFittedModel) and late.bag_modalities == ["wsi"]
    pooled = intersurv.fit(cohort, "late@pooled", seed=3, **TINY)
    assert type(pooled) is FittedModel and pooled.arch == "late@pooled"
    assert type(intersurv.fit(cohort, "linear:wsi", seed=0)) is FittedModel
    with pytest.raises(IntersurvError, match="linear references always use the pooled vector"):
        intersurv.fit(cohort, "linear:wsi@pooled", seed=0)


def test_pooled_twin_equals_the_network_on_the_pooled_cohort(cohort) -> None:
    """@pooled on a cohort with bags = the same network on the same arrays without bags, bit for bit,
    and so are its explanation's coalition values (the engine sees the same tabular arrays)."""
    plain = intersurv.Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities=cohort.X,
                             name=cohort.name)
    a = intersurv.fit(cohort, "early@pooled", seed=1, max_epochs=3)
    b = intersurv.fit(plain, "early", seed=1, max_epochs=3)
    np.testing.assert_array_equal(a(cohort.X), b(plain.X))
    ea = intersurv.explain(a, cohort.subset(range(10)), reference=cohort.subset(range(10, 48)))
    eb = intersurv.explain(b, plain.subset(range(10)), reference=plain.subset(range(10, 48)))
    np.testing.assert_array_equal(ea.coalition_values, eb.coalition_values)


def test_mil_fit_is_reproducible_and_saves_without_pickle(cohort, late, tmp_path) -> None:
    X = model_inputs(late, cohort)
    again = intersurv.fit(cohort, "late", seed=3, **TINY)
    np.testing.assert_array_equal(late(X), again(X))
    late.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "model.json").read_text())
    assert cfg["bags"]["modalities"] == ["wsi"] and cfg["bags"]["dim"] == 8
    assert cfg["bags"]["heads"] == 2 and cfg["bags"]["mean"] is True  # the defaults: two heads and the bag mean
    loaded = FittedModel.load(tmp_path / "m")
    assert isinstance(loaded, MILFittedModel)
    np.testing.assert_array_equal(loaded(X), late(X))


@pytest.mark.parametrize(("key", "value"), [("bag_heads", 0), ("bag_mean", "yes"), ("bag_weight_decay", -1e-3)])
def test_bad_mil_settings_are_one_line_errors(cohort, key, value) -> None:
    with pytest.raises(IntersurvError, match=key):
        intersurv.fit(cohort, "late", seed=0, **{**TINY, key: value})


def test_evaluation_uses_whole_bags_whatever_the_chunking(cohort, late, monkeypatch) -> None:
    import intersurv.training.mil_fit as mil_fit

    X = model_inputs(late, cohort)
    full = late(X)
    monkeypatch.setattr(mil_fit, "CHUNK_PATCHES", 1)  # one patient per forward pass
    np.testing.assert_allclose(late(X), full, rtol=1e-5, atol=1e-6)


def test_a_mil_model_needs_bags_and_the_right_width(cohort, late) -> None:
    with pytest.raises(IntersurvError, match="needs its bags"):
        late(cohort.X)
    narrow = BagSet.from_arrays([np.zeros((3, 4), np.float32)] * cohort.n_patients)
    with pytest.raises(IntersurvError, match="4 features"):
        late({**cohort.X, "wsi": narrow})


def test_attention_table_holds_every_test_patch(cohort, late) -> None:
    test = cohort.subset(range(5))
    table = attention_table(late, test)
    assert list(table.columns) == ["patient_id", "modality", "patch", "weight", "x", "y", "slide"]
    assert len(table) == int(test.bags["wsi"].sizes().sum())
    sums = table.groupby("patient_id")["weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-6)
    np.testing.assert_array_equal(table[table.patient_id == "p0"][["x", "y"]].to_numpy(), test.bags["wsi"].coords(0))


# ------------------------------------------------------------------ explanation
def test_late_fusion_with_a_bag_modality_has_zero_intershap(cohort, late) -> None:
    test, train = cohort.subset(range(12)), cohort.subset(range(12, 48))
    view = EncodedHead(late, cohort.modality_names)
    e = intersurv.explain(view, encoded_cohort(late, test), reference=encoded_arrays(late, train))
    assert np.abs(e.matrix[:, 0, 1]).max() < 1e-6
    assert e.score() < 1e-6
    # the explained model is the MIL model: the full coalition is its prediction
    np.testing.assert_allclose(e.coalition_values[:, -1], late(model_inputs(late, test)), rtol=1e-6, atol=1e-6)


def test_an_absent_bag_is_the_mean_reference_embedding(cohort) -> None:
    model = intersurv.fit(cohort, "bilinear", seed=0, **TINY)
    test, train = cohort.subset(range(6)), cohort.subset(range(6, 48))
    ref = encoded_arrays(model, train)
    e = intersurv.explain(EncodedHead(model, ["wsi", "rna"]), encoded_cohort(model, test), reference=ref)
    emb = encoded_arrays(model, test)["wsi"]
    mean_emb = np.broadcast_to(ref["wsi"].mean(axis=0, dtype=np.float64).astype(np.float32), emb.shape)
    mean_rna = np.broadcast_to(train.X["rna"].mean(axis=0, dtype=np.float64).astype(np.float32), (6, 5))
    only_wsi = model.head_log_risk({"wsi": emb, "rna": mean_rna})
    only_rna = model.head_log_risk({"wsi": mean_emb, "rna": test.X["rna"]})
    np.testing.assert_allclose(e.coalition_values[:, 1], only_wsi, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(e.coalition_values[:, 2], only_rna, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ the audit
@pytest.fixture(scope="module")
def audit(tmp_path_factory, cohort):
    from intersurv.audit import audit_config, run_audit
    from intersurv.io.cohort_dir import write_cohort_dir

    root = tmp_path_factory.mktemp("milaudit")
    write_cohort_dir(cohort, root / "cohort")
    archs = ["unimodal", "early", "late", "gated", "bilinear", "kronecker", "cross_attention", "unimodal:wsi@pooled"]
    cfg = audit_config({"cohort": str(root / "cohort"), "architectures": archs, "seeds": [0],
                        "protocol": {"kind": "cv", "folds": 2}, "train": TINY,
                        "explain": {"bootstrap": 0, "time_points": 2},
                        "prognostic": {"bootstrap": 0, "permutations": 0}}, cohort.modality_names)
    return root / "run", run_audit(cfg, root / "run")


def test_an_audit_with_bags_trains_and_explains_every_architecture(audit) -> None:
    out, results = audit
    archs = results["architectures"]
    assert set(archs) >= {"unimodal:wsi", "unimodal:rna", "early", "late", "gated", "bilinear", "kronecker",
                          "cross_attention", "unimodal:wsi@pooled"}
    assert archs["late"]["intershap"]["mean"] < 1e-6
    assert archs["unimodal:wsi"]["attention"]["wsi"]["highest"]["patches"]
    assert archs["unimodal:rna"]["attention"] is None and archs["unimodal:wsi@pooled"]["attention"] is None
    pooled = results["comparisons"]["unimodal:wsi"]["pooled"]
    assert pooled["ref_arch"] == "unimodal:wsi@pooled" and pooled["units"] == 2
    assert results["references"]["pooled"] == "@pooled"
    assert results["interaction_test"] is not None
    table = pd.read_parquet(out / "units" / "late_s0_f0" / "attention.parquet")
    assert set(table["modality"]) == {"wsi"}
    html = (out / "report.html").read_text()
    assert "Where attention-MIL models look" in html and "the same on pooled bags" in html


def test_patch_transform_equals_the_svd_principal_axes_of_the_patches(cohort) -> None:
    """Streamed moments + eigh of the correlation matrix = Standardizer + PrincipalAxes (thin SVD) on all
    patches (the tiny cohort has fewer patches than PATCH_SAMPLE, so the sample is every patch)."""
    from intersurv.training.mil_fit import PatchTransform
    from intersurv.training.pca import PrincipalAxes
    from intersurv.training.standardize import Standardizer

    bags = cohort.bags["wsi"]
    patches = PatchTransform.fit({"wsi": bags}, 5, np.random.default_rng(0))
    every = np.concatenate([bags.bag(a) for a in range(len(bags))])
    st = Standardizer.fit({"wsi": every}, "standardize")
    axes = PrincipalAxes.fit(st.transform({"wsi": every}), 5)
    np.testing.assert_allclose(patches("wsi", every), axes.transform(st.transform({"wsi": every}))["wsi"],
                               rtol=1e-4, atol=1e-4)
    assert patches.axes.variance_share["wsi"] == pytest.approx(axes.variance_share["wsi"], rel=1e-6)


def test_bag_centering_removes_a_per_patient_offset(cohort, late) -> None:
    """With bag_center (the default) a constant shift of every patch of a bag (stain, scanner) leaves the
    prediction unchanged."""
    assert late.patches.center
    shifted = BagSet.from_arrays([cohort.bags["wsi"].bag(a) + np.float32(3.0 * (a % 3))
                                  for a in range(cohort.n_patients)])
    X = model_inputs(late, cohort)
    np.testing.assert_allclose(late({**X, "wsi": shifted}), late(X), rtol=1e-4, atol=1e-4)


def test_explain_command_explains_mil_units_over_encoded_bags(audit, tmp_path) -> None:
    from intersurv.cli import main

    out, _ = audit
    assert main(["explain", str(out), "--out", str(tmp_path / "x"), "--bootstrap", "0"]) == 0
    summary = json.loads((tmp_path / "x" / "explain_summary.json").read_text())
    late = summary["units"]["late_s0_f0"]
    assert abs(late["intershap"]) < 1e-6
    assert "gated_s0_f0" in summary["units"] and "unimodal-wsi_s0_f0" in summary["skipped"]


def test_fit_batched_trains_mil_models_one_by_one(cohort) -> None:
    from intersurv.training.batched import fit_batched

    models = fit_batched(cohort, "late", [3, 4], **TINY)
    X = model_inputs(models[0], cohort)
    assert all(isinstance(m, MILFittedModel) for m in models)
    np.testing.assert_array_equal(models[0](X), intersurv.fit(cohort, "late", seed=3, **TINY)(X))


def test_mil_default_batch_is_mil_batch_size_not_the_whole_training_part(cohort, monkeypatch) -> None:
    import intersurv.training.mil_fit as mil_fit

    monkeypatch.setattr(mil_fit, "MIL_BATCH_SIZE", 8)  # the tiny cohort's training part is below 64
    default = intersurv.fit(cohort, "late", seed=2, **TINY)
    X = model_inputs(default, cohort)
    explicit = intersurv.fit(cohort, "late", seed=2, batch_size=8, **TINY)
    whole = intersurv.fit(cohort, "late", seed=2, batch_size=10_000, **TINY)
    np.testing.assert_array_equal(default(X), explicit(X))
    assert not np.array_equal(default(X), whole(X))


def test_bag_weight_decay_penalises_the_encoders_and_weight_decay_the_head(cohort, monkeypatch) -> None:
    groups = []

    class RecordingAdam(torch.optim.Adam):
        def __init__(self, params, **kw):
            super().__init__(params, **kw)
            groups.extend(self.param_groups)

    monkeypatch.setattr(torch.optim, "Adam", RecordingAdam)
    model = intersurv.fit(cohort, "late", seed=0, weight_decay=0.25, bag_weight_decay=0.5, **TINY)
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert {decay[id(p)] for p in model.module.encoders.parameters()} == {0.5}
    assert {decay[id(p)] for p in model.module.head.parameters()} == {0.25}
    assert len(decay) == sum(1 for _ in model.module.parameters())  # every weight is trained, once
