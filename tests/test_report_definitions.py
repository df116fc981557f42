"""Issue 17, rows 2 and 12: the report defines what it shows (InterSHAP, the additive null, every
±, why late fusion interacts on the survival scale), prints formatted numbers only, and says
"no interaction to analyse" for late fusion instead of testing float noise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from intersurv.analysis import prognostic_analysis
from intersurv.report import build_report

from test_report import make_run


def late_fusion_run(root: Path) -> Path:
    run = make_run(root)
    results = json.loads((run / "results.json").read_text())
    rng = np.random.default_rng(4)
    h = rng.normal(size=80)
    t = rng.exponential(np.exp(-h)) * 20 + 0.1
    d = (rng.random(80) < 0.6).astype(int)
    noise = np.abs(rng.normal(scale=2.4e-8, size=80))  # late fusion's local InterSHAP: float rounding
    late = dict(next(iter(results["architectures"].values())))
    late["prognostic"] = prognostic_analysis(noise, t, d, predicted_log_risk=h, bootstrap=20, permutations=20)
    results["architectures"]["late"] = late
    results["truth"].update(scenario="glioma", params={"interaction": 0.15000000000000002, "n": 575},
                            intershap_sd=0.009123456789,
                            whole_cohort={"intershap": 0.0351234, "shares": {"wsi": 0.4, "interaction": 0.0351234}},
                            definition="true log-risk explained on each unit's test patients")
    (run / "results.json").write_text(json.dumps(results))
    patients = pd.read_csv(run / "patients.csv")
    patients["event"] = patients["event"].astype(float)  # as a float column reads back: 0.0 / 1.0
    patients.to_csv(run / "patients.csv", index=False)
    return run


def test_report_defines_its_terms_and_formats_every_number(tmp_path: Path) -> None:
    page = build_report(late_fusion_run(tmp_path / "RUN")).read_text(encoding="utf-8")
    defs = page.split("How to read this report")[1].split("Main table")[0]
    assert "<b>InterSHAP</b> measures" in defs and "Local InterSHAP" in defs
    assert "<b>Additive null.</b>" in defs and "excess" in defs
    assert "sample SD across seeds" in defs and "bootstrap interval over test patients" in defs
    assert "S<sub>0</sub>(t)<sup>exp(h)</sup>" in defs and "not additive in h" in defs
    # ground truth: formatted numbers, no raw floats, no dict
    truth = page.split("Ground truth (simulated cohort)")[1].split("<h2>")[0]
    assert "0.15000000000000002" not in truth and "{" not in truth and "0.009123" not in truth
    assert "interaction 0.15, n 575" in truth and "3.5 % \u00b1 0.9 %" in truth and "3.5 %" in truth
    # key/value tables have no (empty) header row
    assert "<th></th>" not in page
    # events are integers
    patients = page.split('<table class="patients">')[1].split("</table>")[0]
    cells = re.findall(r"<td>([^<]*)</td></tr>", patients)
    assert cells and set(cells) <= {"0", "1"}


def test_late_fusion_float_noise_is_reported_as_no_interaction(tmp_path: Path) -> None:
    page = build_report(late_fusion_run(tmp_path / "RUN")).read_text(encoding="utf-8")
    late = page.split("<h3>late</h3>")[1].split("<h3>")[0]
    assert "No interaction to analyse" in late
    assert "HR per SD" not in late and "Wald p" not in late
