"""The report: built from a hand-made run directory (results.json + patients.csv)
whose architecture, modality and patient names contain HTML; everything from the
data must come out escaped, the figures as PNG files and embedded images."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from intersurv.analysis import prognostic_analysis
from intersurv.cli import main
from intersurv.report import build_report, format_main_table
from intersurv.report.plots import PLOTS

EVIL_ARCH = "<script>alert(1)</script> & $late$"
EVIL_PATIENT = "<script>alert(1)</script>&P0"
EVIL_MODALITY = "<b>rna</b>&co"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def stat(mean, sd, n=3, across="seeds"):
    return {"mean": mean, "sd": sd, "n": n, "across": across, "values": [mean] * n}


def arch_entry(c, ish, prog, modality_shares):
    return {
        "params": 12345,
        "c_index": stat(c, 0.012), "c_uno": stat(c - 0.02, 0.015), "ibs": stat(0.181, 0.004),
        "brier": {"12": stat(0.12, 0.01)}, "auc": {"12": stat(c + 0.01, 0.02)},
        "intershap": {"mean": ish, "sd": 0.005, "ci": [ish - 0.009, ish + 0.011], "aggregation": "abs",
                      "masker": "mean", "output": "log_risk", "values": [ish] * 3},
        "shares": {**modality_shares, "interaction": ish},
        "variance": {"terms": {"wsi": 0.3, EVIL_MODALITY: 0.6, "interaction": 0.05},
                     "covariances": {f"wsi|{EVIL_MODALITY}": 0.01}, "shares": {"wsi": 0.33}},
        "additive_c_index": stat(c - 0.004, 0.011),
        "synergy": {"overall": {"synergy_share": 0.625}, "synergy_share_ci": [0.51, 0.73]},
        "prognostic": prog,
        "time_curve": {"times": [6, 12, 24], "intershap": [ish * 0.8, ish, ish * 1.3]},
        "groups": {"players": ["<i>g1", "g2", f"{EVIL_MODALITY}:rest"], "intershap": 0.2, "intershap_ci": [0.1, 0.3],
                   "share_matrix": [[0.3, 0.05, 0.02], [0.05, 0.2, 0.03], [0.02, 0.03, 0.3]],
                   "top_pairs": [{"pair": ["<i>g1", "g2"], "share": 0.1, "ci": [0.05, 0.15], "mean_abs": 0.1,
                                  "mean": 0.02}]},
    }


def make_run(root: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 60
    rows, archs = [], {}
    for k, (name, c, ish) in enumerate([(EVIL_ARCH, 0.812, 0.030), ("early", 0.64, 0.048)]):
        x = np.abs(rng.normal(0.03, 0.02, n))
        h = rng.normal(size=n)
        t = rng.exponential(np.exp(-h)) * 20 + 0.1
        d = rng.integers(0, 2, n)
        prog = prognostic_analysis(x, t, d, predicted_log_risk=h, bootstrap=20, permutations=20)
        archs[name] = arch_entry(c, ish, prog, {"wsi": 0.4, EVIL_MODALITY: 0.57 - ish + 0.03})
        for a in range(n):
            rows.append({
                "arch": name, "seed": a % 3, "fold": 0,
                "patient_id": EVIL_PATIENT if a == 0 else f"P{a}",
                "time": t[a], "event": d[a], "group": "", "log_risk": h[a],
                "local_intershap": (0.9 if a == 0 and k == 0 else x[a]),
                "additive_log_risk": h[a] * 0.9, "shapley_wsi": h[a] * 0.4, f"shapley_{EVIL_MODALITY}": h[a] * 0.5,
            })
    results = {
        "intersurv_version": "0.1.0", "created": "2026-11-27T19:00:00Z",
        "cohort": {"name": "glioma-sim", "n_patients": n, "n_events": 30, "time_unit": "months",
                   "modalities": {"wsi": 64, EVIL_MODALITY: 128}},
        "protocol": {"kind": "holdout", "test_fraction": 0.25, "seeds": [0, 1, 2], "val_fraction": 0.2,
                     "masker": "mean", "output": "log_risk", "aggregation": "abs", "background": "train",
                     "bootstrap": 200, "horizons": [12, 24]},
        "versions": {"torch": "2.13.0", "lifelines": "0.30.3"},
        "architectures": archs,
        "truth": {"intershap": 0.035, "shares": {"wsi": 0.41, EVIL_MODALITY: 0.555, "interaction": 0.035},
                  "synergy_share": 0.714, "aggregation": "abs", "masker": "mean"},
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.json").write_text(json.dumps(results))
    pd.DataFrame(rows).to_csv(root / "patients.csv", index=False)
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run") / "RUN")


@pytest.fixture(scope="module")
def report(run: Path) -> str:
    return build_report(run).read_text(encoding="utf-8")


def test_data_strings_are_escaped_never_raw(report: str) -> None:
    assert "<script" not in report.lower()
    assert "<b>rna</b>" not in report
    assert "<i>g1" not in report and "&lt;i&gt;g1 \u00d7 g2: 10.0 % [5.0 %, 15.0 %]" in report
    for raw in (EVIL_ARCH, EVIL_PATIENT, EVIL_MODALITY):
        assert html.escape(raw) in report
    # the patient with the strongest interaction is listed first, escaped
    first = report.split('<table class="patients">')[1].split("<tr>")[2]
    assert html.escape(EVIL_PATIENT) in first and html.escape(EVIL_ARCH) in first


def test_pngs_written_and_embedded(run: Path, report: str) -> None:
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', report)
    assert len(embedded) == len(PLOTS)
    for stem, data in zip(PLOTS, embedded):
        png = (run / "plots" / f"{stem}.png").read_bytes()
        assert png.startswith(PNG_MAGIC)
        assert base64.b64decode(data) == png
    # self-contained: nothing fetched from elsewhere
    assert not re.search(r'(src|href)="(https?:)?//', report)


def test_report_sections_and_numbers(report: str) -> None:
    for heading in ("Main table", "Figures", "Is interaction prognostic?", "Protocol", "Versions",
                    "Ground truth"):
        assert f">{heading}" in report
    assert "0.812 \u00b1 0.012 (3 seeds)" in report
    assert "3.0 % \u00b1 0.5 % [2.1 %, 4.1 %]" in report
    assert "Seeds: 0, 1, 2" in report
    assert "adjusted for risk + group/covariates" in report
    assert "no group or covariates given" in report
    assert "lifelines" in report and "0.30.3" in report


def test_format_main_table_text(run: Path) -> None:
    results = json.loads((run / "results.json").read_text())
    text = format_main_table(results)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["architecture", "params", "C-index"]
    arch_line = next(ln for ln in lines if ln.startswith(EVIL_ARCH))
    assert "12,345" in arch_line and "0.812 \u00b1 0.012 (3 seeds)" in arch_line
    assert "3.0 % \u00b1 0.5 % [2.1 %, 4.1 %]" in arch_line
    assert "0.808 \u00b1 0.011" in arch_line  # additive-projection C-index
    assert "62.5 % [51.0 %, 73.0 %]" in arch_line  # synergy share and its CI
    truth = next(ln for ln in lines if ln.startswith("ground truth"))
    assert "3.5 %" in truth and f"{EVIL_MODALITY} 55.5 %" in truth and "71.4 %" in truth
    assert any("not across patients" in ln for ln in lines)
    assert any("aggregation abs, masker mean, output log_risk" in ln for ln in lines)


def test_null_numbers_and_missing_parts_render(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "plots").mkdir()
    (run / "plots" / "time_curves.png").write_bytes(PNG_MAGIC)  # stale figure from an earlier build
    results = {"cohort": {"name": "x"}, "architectures": {"late": {
        "params": None, "c_index": {"mean": None, "sd": None}, "intershap": {"mean": None, "ci": [None, None]},
        "shares": None, "prognostic": {"ok": False, "reason": "too few events (2 < 5)", "models": {}},
    }}, "truth": None}
    (run / "results.json").write_text(json.dumps(results))
    page = build_report(run).read_text()
    assert "Too few events (2 &lt; 5)." in page
    assert "no data in this run" in page and "No per-patient table" in page
    assert not (run / "plots" / "time_curves.png").exists()
    row = format_main_table(results).splitlines()[2]
    assert row.startswith("late") and set(row.split()[1:]) == {"\u2013"}


def test_cli_report_rebuilds(run: Path, capsys) -> None:
    (run / "report.html").unlink()
    for p in (run / "plots").glob("*.png"):
        p.unlink()
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "C-index" in out and str(run / "report.html") in out
    assert (run / "report.html").is_file()
    assert sorted(p.stem for p in (run / "plots").glob("*.png")) == sorted(PLOTS)


def _one_line_error(argv: list[str], capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("intersurv: error: "), err
    return lines[0]


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert "results.json: not found" in _one_line_error(["report", str(tmp_path)], capsys)
    (tmp_path / "results.json").write_text("{not json")
    assert "results.json: not valid JSON" in _one_line_error(["report", str(tmp_path)], capsys)
    (tmp_path / "results.json").write_text(json.dumps({"architectures": {"late": [1, 2]}}))
    assert "architecture 'late' is not a JSON object" in _one_line_error(["report", str(tmp_path)], capsys)
    (tmp_path / "results.json").write_text(json.dumps({"architectures": {}}))
    pd.DataFrame({"arch": ["a"], "patient_id": ["p"]}).to_csv(tmp_path / "patients.csv", index=False)
    assert "patients.csv: missing column 'seed'" in _one_line_error(["report", str(tmp_path)], capsys)
    assert not (tmp_path / "report.html").exists()
