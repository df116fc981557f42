"""Fusion architectures: shapes, parameter counts against hand counts, which ones
can interact across modalities (and late fusion cannot), and one-line errors."""

from __future__ import annotations

import pytest
import torch

from intersurv.errors import IntersurvError
from intersurv.models import ARCHITECTURES, build_model, count_parameters
from intersurv.models.attention import ChunkTokenizer

FUSION = ["early", "late", "cross_attention", "bilinear", "gated", "kronecker"]
WIDTHS3 = {"wsi": 40, "rna": 13, "clin": 3}


def widths(m: int) -> dict[str, int]:
    return dict(list(WIDTHS3.items())[:m])


def inputs(w: dict[str, int], n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {m: torch.randn(n, d, generator=g) for m, d in w.items()}


def test_registry_lists_every_architecture() -> None:
    assert set(ARCHITECTURES) == {"unimodal", "linear", "clinical", *FUSION}


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("arch", FUSION + ["unimodal:rna"])
def test_forward_shape_and_every_parameter_gets_a_gradient(arch: str, m: int) -> None:
    torch.manual_seed(0)
    w = widths(m)
    model = build_model(arch, w)
    out = model(inputs(w, 7, 1))
    assert out.shape == (7,) and out.dtype == torch.float32 and torch.isfinite(out).all()
    out.sum().backward()
    dead = [k for k, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []
    assert model.modalities == (["rna"] if arch == "unimodal:rna" else list(w))
    assert count_parameters(model) == sum(p.numel() for p in model.parameters()) > 0


def test_parameter_count_late_by_hand() -> None:
    # late, hidden [4]: per modality Linear(d, 4) + Linear(4, 1) = 4d + 4 + 4 + 1.
    model = build_model("late", {"a": 5, "b": 3}, hidden=4)
    assert count_parameters(model) == (4 * 5 + 4 + 4 + 1) + (4 * 3 + 4 + 4 + 1) == 50


def test_study_early_fusion_size_is_reachable() -> None:
    # The glioma study's early fusion: 4096 -> 2048 -> 200 -> 1.
    model = build_model("early", {"wsi": 2048, "rna": 2048}, hidden=[2048, 200])
    assert count_parameters(model) == (4096 * 2048 + 2048) + (2048 * 200 + 200) + (200 + 1)


def test_parameter_count_bilinear_by_hand() -> None:
    # encoders d->k, per pair two Linear(k, r), main Linear(Mk, 1), interaction Linear(P r, 1) without bias.
    k, r, w = 6, 5, {"a": 4, "b": 3, "c": 2}
    model = build_model("bilinear", w, hidden=k, rank=r)
    enc = sum(d * k + k for d in w.values())
    pairs = 3 * 2 * (k * r + r)
    assert count_parameters(model) == enc + pairs + (3 * k + 1) + 3 * r


def mixed_difference(model: torch.nn.Module, w: dict[str, int], n: int = 64) -> torch.Tensor:
    """h(x1,x2,..) - h(x1,z2,..) - h(z1,x2,..) + h(z1,z2,..) over the first two modalities."""
    x, z = inputs(w, n, 2), inputs(w, n, 3)
    a, b = list(w)[:2]
    model.eval()
    with torch.no_grad():
        return (model(x) - model({**x, b: z[b]}) - model({**x, a: z[a]}) + model({**x, a: z[a], b: z[b]}))


@pytest.mark.parametrize("m", [2, 3])
def test_late_fusion_is_additive_at_any_weights(m: int) -> None:
    torch.manual_seed(1)
    w = widths(m)
    model = build_model("late", w)
    ref = mixed_difference(model, w)
    assert ref.abs().max() < 1e-5


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("arch", ["early", "cross_attention", "bilinear", "gated", "kronecker"])
def test_fusion_architectures_can_interact(arch: str, m: int) -> None:
    torch.manual_seed(1)
    w = widths(m)
    assert mixed_difference(build_model(arch, w), w).abs().max() > 1e-4


def test_bilinear_without_its_products_is_additive() -> None:
    torch.manual_seed(2)
    w = widths(3)
    model = build_model("bilinear", w)
    with torch.no_grad():
        model.interaction.weight.zero_()
    assert mixed_difference(model, w).abs().max() < 1e-5


def test_kronecker_keeps_unimodal_terms() -> None:
    # If the second modality's reduced embedding is 0, only the appended 1 carries it:
    # the model must still depend on the first modality (z_1 ⊗ [0, 1] keeps r_1).
    torch.manual_seed(3)
    w = widths(2)
    model = build_model("kronecker", w, kron_dim=3).eval()
    with torch.no_grad():
        model.reduce[1].weight.zero_()
        model.reduce[1].bias.fill_(-1.0)  # ReLU(-1) = 0
        x, z = inputs(w, 16, 4), inputs(w, 16, 5)
        moved = model(x) - model({**x, "wsi": z["wsi"]})
        fixed = model(x) - model({**x, "rna": z["rna"]})
    assert moved.abs().max() > 1e-4
    assert fixed.abs().max() == 0


def test_chunk_tokenizer_matches_explicit_chunks() -> None:
    torch.manual_seed(4)
    tok = ChunkTokenizer(in_dim=10, tokens=4, dim=5)
    assert (tok.n_tokens, tok.chunk, tok.pad) == (4, 3, 2)
    x = torch.randn(6, 10)
    padded = torch.cat([x, torch.zeros(6, 2)], dim=1)
    expected = torch.stack([padded[:, 3 * t:3 * t + 3] @ tok.weight[t] + tok.bias[t] for t in range(4)], dim=1)
    torch.testing.assert_close(tok(x), expected)
    assert ChunkTokenizer(in_dim=3, tokens=8, dim=5).n_tokens == 3  # never more tokens than features


def test_cross_attention_is_not_one_token_softmax() -> None:
    # Every modality contributes several tokens, so the attention of a query spreads over several keys.
    torch.manual_seed(5)
    w = widths(2)
    model = build_model("cross_attention", w, tokens=4).eval()
    x = inputs(w, 3, 6)
    with torch.no_grad():
        q = model.tokenizers[0](x["wsi"])
        k = model.tokenizers[1](x["rna"])
        _, weights = model.attention[0](q, k, k, need_weights=True)
    assert weights.shape == (3, 4, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    assert weights.max() < 1 - 1e-3


def test_unimodal_uses_only_its_modality() -> None:
    torch.manual_seed(6)
    w = widths(2)
    model = build_model("unimodal:rna", w).eval()
    x, z = inputs(w, 5, 7), inputs(w, 5, 8)
    with torch.no_grad():
        assert torch.equal(model(x), model({**x, "wsi": z["wsi"]}))
        assert not torch.equal(model(x), model({**x, "rna": z["rna"]}))


def test_modality_names_with_dots_work() -> None:
    model = build_model("gated", {"wsi.uni": 4, "rna.v2": 3})
    assert model({"wsi.uni": torch.zeros(2, 4), "rna.v2": torch.zeros(2, 3)}).shape == (2,)


def test_hyperparameters_resolved_and_defaults_small() -> None:
    model = build_model("bilinear", {"a": 3, "b": 2}, hidden=[8, 4])
    assert model.hyper == {"hidden": [8, 4], "rank": 64, "dropout": 0.1, "skip": "none"}
    assert model.arch == "bilinear"
    assert ARCHITECTURES["cross_attention"].defaults() == {
        "tokens": 8, "dim": 32, "heads": 4, "hidden": [32], "dropout": 0.1, "skip": "none"}


@pytest.mark.parametrize(("arch", "w", "hyper", "message"), [
    ("transformer", {"a": 2, "b": 2}, {}, "unknown architecture 'transformer'"),
    ("unimodal", {"a": 2, "b": 2}, {}, "unknown architecture 'unimodal'"),
    ("unimodal:wsi", {"a": 2, "b": 2}, {}, "no modality 'wsi'"),
    ("late", {"a": 2}, {}, "needs at least 2 modalities, got 1 (a)"),
    ("kronecker", {"a": 2}, {}, "needs at least 2 modalities"),
    ("late", {"a": 2, "b": 2}, {"rank": 4}, "has no hyperparameter 'rank'"),
    ("early", {"a": 2, "b": 2}, {"dropout": 1.0}, "dropout must be a number in [0, 1)"),
    ("early", {"a": 2, "b": 2}, {"hidden": []}, "hidden must be a positive integer"),
    ("early", {"a": 2, "b": 2}, {"hidden": [4, 0]}, "hidden must be a positive integer"),
    ("bilinear", {"a": 2, "b": 2}, {"rank": 2.5}, "rank must be a positive integer"),
    ("cross_attention", {"a": 2, "b": 2}, {"dim": 10, "heads": 4}, "dim 10 is not divisible by heads 4"),
    ("early", {"a": 0, "b": 2}, {}, "modality 'a': width must be a positive integer"),
])
def test_bad_input_is_a_one_line_error(arch: str, w: dict[str, int], hyper: dict, message: str) -> None:
    with pytest.raises(IntersurvError) as err:
        build_model(arch, w, **hyper)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_initialisation_follows_torch_seed() -> None:
    w = widths(2)
    torch.manual_seed(9)
    a = build_model("cross_attention", w).state_dict()
    torch.manual_seed(9)
    b = build_model("cross_attention", w).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = build_model("cross_attention", w).state_dict()  # the generator has moved on: new weights
    assert not torch.equal(a["head.0.weight"], c["head.0.weight"])
