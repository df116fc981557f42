"""Feature groups as players: the engine against shapiq, the Möbius sums to the modality game, the files."""

from __future__ import annotations

import numpy as np
import pytest

from intersurv import explain
from intersurv.errors import IntersurvError
from intersurv.interactions.groups import read_groups, resolve_players

WIDTHS = {"a": 5, "b": 4, "c": 3}


def _data(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {m: rng.normal(size=(n, d)) for m, d in WIDTHS.items()}


def _model(X: dict[str, np.ndarray]) -> np.ndarray:
    """A log-risk with interactions within and across modalities, of orders 2, 3 and 4."""
    a, b, c = X["a"], X["b"], X["c"]
    return (0.5 * a[:, 0] + a[:, 1] * a[:, 2] + np.tanh(a[:, 3] + b[:, 0]) * c[:, 1]
            + b[:, 1] * b[:, 2] * c[:, 0] + 0.3 * a[:, 4] * b[:, 3] - c[:, 2] ** 2
            + 0.4 * a[:, 0] * a[:, 2] * b[:, 0] * b[:, 1])


def _eight_groups() -> dict[str, list[str]]:
    """Eight groups covering every column (no ':rest' player); g7 spans two modalities."""
    return {"g0": ["a:0"], "g1": ["a:1"], "g2": ["a:2", "a:3"], "g3": ["b:0", "b:1"], "g4": ["b:2"],
            "g5": ["c:0", "c:1"], "g6": ["c:2"], "g7": ["a:4", "b:3"]}


@pytest.mark.parametrize("n_groups", [2, 3, 5, 8])
def test_group_matrix_equals_shapiq_k_sii_on_the_same_game(n_groups: int) -> None:
    """The group game built by hand (column-wise mean masking) through shapiq's ExactComputer."""
    from shapiq import ExactComputer

    rng = np.random.default_rng(n_groups)
    X, ref = _data(rng, 3), _data(rng, 40)
    full = _eight_groups()
    names = list(full)[:n_groups - 1]
    groups = {g: full[g] for g in names}
    groups["others"] = [c for g in list(full)[n_groups - 1:] for c in full[g]]
    e = explain(_model, X, reference=ref, masker="mean", groups=groups)
    assert e.players == list(groups)
    mean = {m: r.mean(axis=0) for m, r in ref.items()}
    for a in range(3):
        def game(coalitions: np.ndarray, a: int = a) -> np.ndarray:
            out = []
            for row in np.asarray(coalitions, dtype=bool):
                x = {m: mean[m][None, :].copy() for m in WIDTHS}
                for keep, g in zip(row, groups):
                    for col in groups[g] if keep else []:
                        m, j = col.split(":")
                        x[m][0, int(j)] = X[m][a, int(j)]
                out.append(_model(x)[0])
            return np.array(out)

        ref_iv = ExactComputer(game, n_players=n_groups)("k-SII", order=2).dict_values
        for i in range(n_groups):
            assert e.matrix[a, i, i] == pytest.approx(ref_iv.get((i,), 0.0), abs=1e-10)
            for j in range(i + 1, n_groups):
                assert e.matrix[a, i, j] + e.matrix[a, j, i] == pytest.approx(ref_iv.get((i, j), 0.0), abs=1e-10)


def test_group_mobius_sums_to_the_modality_mobius() -> None:
    """m_mod(A) = sum of the group Möbius over nonempty sets of A's groups; m_mod(AB) over the sets that
    meet both A and B only (docs/design.md, feature groups)."""
    rng = np.random.default_rng(1)
    X, ref = _data(rng, 20), _data(rng, 30)
    groups = {"a1": ["a:0", "a:1"], "a2": ["a:2", "a:3"], "b1": ["b:0"], "b2": ["b:1", "b:2"]}
    for masker in ("mean", "marginal"):
        mod = explain(_model, X, reference=ref, masker=masker, background=10)
        grp = explain(_model, X, reference=ref, masker=masker, background=10, groups=groups)
        # players: a1 a2 b1 b2 a:rest b:rest c:rest -> modality of each player
        owner = ["a", "a", "b", "b", "a", "b", "c"]
        assert grp.players == ["a1", "a2", "b1", "b2", "a:rest", "b:rest", "c:rest"]
        assert np.allclose(grp.coalition_values[:, [0, -1]], mod.coalition_values[:, [0, -1]], atol=1e-12)
        n_players = len(owner)
        for c_mod in range(1, 2 ** len(WIDTHS)):
            mods = {m for i, m in enumerate(WIDTHS) if c_mod >> i & 1}
            total = np.zeros(len(mod.mobius))
            for c in range(1, 2**n_players):
                touched = {owner[i] for i in range(n_players) if c >> i & 1}
                if touched == mods:
                    total += grp.mobius[:, c]
            np.testing.assert_allclose(total, mod.mobius[:, c_mod], atol=1e-10)
        # what does NOT add up in general: the Shapley interaction index of the modalities (the term
        # a0 a2 b0 b1 is a Möbius term of 4 groups, 2 in a and 2 in b: 4 cross pairs x m/3 != m)
        a_players, b_players = [0, 1, 4], [2, 3, 5]
        summed = sum(grp.matrix[:, i, j] + grp.matrix[:, j, i] for i in a_players for j in b_players)
        assert not np.allclose(summed, mod.matrix[:, 0, 1] + mod.matrix[:, 1, 0], atol=1e-6)


def test_groups_additive_across_groups_have_no_interaction() -> None:
    rng = np.random.default_rng(2)
    X, ref = _data(rng, 15), _data(rng, 25)

    def additive(x: dict[str, np.ndarray]) -> np.ndarray:  # interacts only within g and within c
        return x["a"][:, 0] * x["b"][:, 0] + np.sin(x["a"][:, 1]) + x["c"][:, 0] * x["c"][:, 1]

    e = explain(additive, X, reference=ref, masker="marginal", background=8,
                groups={"g": ["a:0", "b:0"], "h": ["a:1"]})
    assert e.score() < 1e-12
    assert e.players == ["g", "h", "a:rest", "b:rest", "c:rest"]


def test_read_groups_toml_gmt_and_builtin(tmp_path) -> None:
    names = {"rna": ["TP53", "EGFR", "IDH1"], "cnv": ["EGFR", "CDKN2A"], "mut": ["IDH1", "TP53"]}
    toml = tmp_path / "g.toml"
    toml.write_text('[groups]\np53 = ["rna:TP53", "mut:TP53"]\negfr = {rna = ["EGFR"], cnv = ["EGFR"]}\n')
    gmt = tmp_path / "g.gmt"
    gmt.write_text("p53\tTP53 expression and mutation\trna:TP53\tmut:TP53\negfr\t-\trna:EGFR\tcnv:EGFR\n")
    expected = {"p53": ["rna:TP53", "mut:TP53"], "egfr": ["rna:EGFR", "cnv:EGFR"]}
    assert read_groups(str(toml)) == expected
    assert read_groups(str(gmt)) == expected
    assert read_groups("builtin:modality") is None
    genes = read_groups("builtin:tcga-genes=EGFR,TP53", names)
    assert genes == {"EGFR": ["rna:EGFR", "cnv:EGFR"], "TP53": ["rna:TP53", "mut:TP53"]}
    widths = {m: len(v) for m, v in names.items()}
    players = resolve_players(genes, names, widths)
    assert [p.name for p in players] == ["EGFR", "TP53", "rna:rest", "cnv:rest", "mut:rest"]
    assert players[0].columns["cnv"].tolist() == [0] and players[2].columns["rna"].tolist() == [2]


@pytest.mark.parametrize("text, message", [
    ('[groups]\nx = ["rna:NOPE"]\n', "g.toml: group 'x': modality 'rna' has no column 'NOPE'"),
    ('[groups]\nx = ["dna:TP53"]\n', "g.toml: group 'x': unknown modality 'dna'"),
    ('[groups]\nx = ["rna:TP53"]\ny = ["rna:TP53", "cnv:EGFR"]\n', "column rna:TP53 is in two groups, 'x' and 'y'"),
    ('[groups]\nx = ["TP53"]\n', "column 'TP53' is not written modality:column"),
    ('[groups]\n"a:b" = ["rna:TP53"]\n', "group name 'a:b'"),
    ('[other]\nx = 1\n', "expected exactly one table, [groups]"),
])
def test_bad_groups_are_one_line_errors(tmp_path, text: str, message: str) -> None:
    names = {"rna": ["TP53", "EGFR"], "cnv": ["EGFR"]}
    path = tmp_path / "g.toml"
    path.write_text(text)
    with pytest.raises(IntersurvError, match=None) as err:
        resolve_players(read_groups(str(path)), names, {"rna": 2, "cnv": 1}, source=str(path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_too_many_players_is_an_error_with_advice() -> None:
    names = {"x": [f"f{i}" for i in range(20)]}
    groups = {f"g{i}": [f"x:f{i}"] for i in range(12)}
    with pytest.raises(IntersurvError, match="13 players .* at most 12 .* merge groups"):
        resolve_players(groups, names, {"x": 20}, source="g.toml")
    resolve_players({f"g{i}": [f"x:f{i}"] for i in range(11)}, names, {"x": 20})  # 11 + x:rest = 12


def test_tcga_genes_needs_known_genes() -> None:
    with pytest.raises(IntersurvError, match="gene 'NOPE' is a column of no modality"):
        read_groups("builtin:tcga-genes=NOPE", {"rna": ["TP53"]})
    with pytest.raises(IntersurvError, match="unknown built-in grouping"):
        read_groups("builtin:arms", {"rna": ["TP53"]})


def test_a_patient_lacking_a_modality_has_no_group_effects_there() -> None:
    """An all-NaN row: a partly kept modality gets the background in the kept columns, so (mean masker, a
    model imputing the reference mean) the patient's groups of that modality have Shapley value 0."""
    rng = np.random.default_rng(4)
    X, ref = _data(rng, 6), _data(rng, 30)
    X["b"][2] = np.nan
    mean_b = ref["b"].mean(axis=0)

    def imputing(x: dict[str, np.ndarray]) -> np.ndarray:
        b = np.where(np.isnan(x["b"]).all(axis=1, keepdims=True), mean_b, x["b"])
        return _model({**x, "b": b})

    e = explain(imputing, X, reference=ref, masker="mean", groups={"b1": ["b:0"], "b2": ["b:1", "b:2"]})
    assert np.isfinite(e.coalition_values).all()
    b_players = [e.players.index(p) for p in ("b1", "b2", "b:rest")]
    np.testing.assert_allclose(e.shapley[2, b_players], 0.0, atol=1e-12)
    assert np.abs(e.shapley[0, b_players]).max() > 1e-3


@pytest.mark.parametrize("shared", [True, False])
def test_masked_rows_by_slices_equal_the_elementwise_select(shared: bool) -> None:
    """A partly kept modality is assembled by slice copies when its kept columns form few runs and by
    np.where otherwise; both give x in the kept columns and the background row elsewhere."""
    from intersurv.interactions.coalitions import MAX_SLICE_RUNS, _mixed, _runs
    from intersurv.interactions.maskers import Background

    rng = np.random.default_rng(5)
    b, k, d = 6, 4, 50
    x = rng.normal(size=(b, d)).astype(np.float32)
    values = {"m": rng.normal(size=(30, d)).astype(np.float32)}
    index = np.tile(rng.integers(30, size=k), (b, 1)) if shared else rng.integers(30, size=(b, k))
    background = Background("marginal", values, index, shared)
    idx = index.reshape(-1)
    few = np.zeros(d, dtype=bool)
    few[3:11] = few[20:21] = few[40:] = True
    many = np.arange(d) % 2 == 0
    assert len(_runs(few)) == 3 and len(_runs(many)) == 25 > MAX_SLICE_RUNS
    for keep in (few, many):
        want = np.where(keep, np.repeat(x, k, axis=0), values["m"][idx])
        np.testing.assert_array_equal(_mixed(x, keep, background, "m", idx, lacking=False), want)
