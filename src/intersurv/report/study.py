"""The study report ``DIR/study.html`` (and ``DIR/plots/forest.png``) from ``DIR/study.json``.

:func:`render_study_html` is pure: the study dict (:mod:`intersurv.study.summary`)
and the forest plot's PNG in, one self-contained HTML string out; every text
from the data is escaped. It leads with the combined answer (per cohort and
pooled), then the forest plot, the per-cohort table, the pooled table and the
methods.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Mapping

from ..errors import IntersurvError
from ..io.atomic import atomic_path, write_text_atomic
from .answer import interaction_text
from .comparisons import fmt_delta
from .forest import STUDY_CAPTION, forest_figure_html, study_forest
from .html import _CSS
from .tables import DASH, _html_table, fmt, fmt_p, fmt_pct

REF_NAMES = {"late": "late fusion", "clinical": "the clinical reference", "best_unimodal": "the best unimodal model"}


def _e(v: Any) -> str:
    return html.escape(str(v))


def _versus(entry: Mapping[str, Any] | None) -> str:
    if not entry:
        return DASH
    return f"{fmt_delta(entry.get('delta_c'), entry.get('ci'))} (Holm p {fmt_p(entry.get('p_adjusted'))})"


def cohort_sentence(row: Mapping[str, Any]) -> str:
    """One cohort's answer in a sentence."""
    head = f"{row['name']} ({row.get('n_patients', '?')} patients, {row.get('n_events', '?')} events): "
    best = row.get("best")
    if not best:
        return head + "no fusion model finished; cohort interaction " + interaction_text(row.get("interaction")) + "."
    parts = [f"best fusion model {best['arch']} (mean C {fmt(best.get('c_index'))})"]
    for ref, entry in (best.get("versus") or {}).items():
        label = REF_NAMES.get(ref, ref) + ("" if entry.get("ref_arch") in (None, ref) else f" ({entry['ref_arch']})")
        verdict, adjusted = entry.get("verdict", DASH), entry.get("verdict_adjusted")
        if adjusted is not None and adjusted != verdict:
            verdict = f"{verdict} by its own interval, {adjusted} after Holm's adjustment"
        parts.append(f"vs {label} \u0394C {_versus(entry)}: {verdict}")
    return head + "; ".join(parts) + "; cohort interaction " + interaction_text(row.get("interaction")) + "."


def pooled_sentences(study: Mapping[str, Any]) -> list[str]:
    """Per reference: which fusion architectures the pooled interval puts above / below 0."""
    out = []
    for ref, by_arch in (study.get("pooled") or {}).items():
        done = {a: p for a, p in by_arch.items() if "estimate" in p}
        if not done:
            continue
        better = [a for a, p in done.items() if p["ci"][0] > 0]
        worse = [a for a, p in done.items() if p["ci"][1] < 0]
        k = max(p["k"] for p in done.values())
        text = (f"Pooled over up to {k} cohorts (random effects), against {REF_NAMES.get(ref, ref)}: "
                + (f"better: {', '.join(better)}; " if better else "no fusion architecture is better; ")
                + (f"worse: {', '.join(worse)}; " if worse else "")
                + "I\u00b2 " + ", ".join(f"{a} {fmt_pct(p['i2'], 0)}" for a, p in done.items()) + ".")
        out.append(text)
    return out


def _cohort_table(study: Mapping[str, Any]) -> str:
    refs = [r for r in REF_NAMES if any(r in ((row.get("best") or {}).get("versus") or {})
                                         for row in study.get("cohorts") or [])]
    header = ["cohort", "patients", "events", "best fusion model (mean C)"]
    header += [f"\u0394C vs {REF_NAMES[r]} [95 % CI] (Holm p)" for r in refs]
    header += ["interaction p", "interaction estimate", "minimum detectable"]
    rows = []
    for row in study.get("cohorts") or []:
        best = row.get("best") or {}
        versus = best.get("versus") or {}
        test = row.get("interaction") or {}
        rows.append([str(row["name"]), str(row.get("n_patients")), str(row.get("n_events")),
                     f"{best['arch']} ({fmt(best.get('c_index'))})" if best else DASH,
                     *[_versus(versus.get(r)) + (f" vs {versus[r]['ref_arch']}" if r == "best_unimodal"
                                                 and versus.get(r) else "") for r in refs],
                     fmt_p(test.get("p_value")), fmt_pct(test.get("estimate")),
                     fmt_pct(test.get("minimum_detectable"))])
    return _html_table(header, rows, "cohorts")


def _pooled_table(study: Mapping[str, Any]) -> str:
    header = ["reference", "architecture", "cohorts", "pooled \u0394C [95 % CI]", "p", "\u03c4\u00b2", "Q (df, p)",
              "I\u00b2", "smallest cohort df"]
    rows = []
    for ref, by_arch in (study.get("pooled") or {}).items():
        for arch, p in by_arch.items():
            if "estimate" not in p:
                rows.append([REF_NAMES.get(ref, ref), arch, ", ".join(p.get("cohorts") or []) or DASH,
                             f"not pooled: {p.get('skipped')}", DASH, DASH, DASH, DASH, DASH])
                continue
            rows.append([REF_NAMES.get(ref, ref), arch, ", ".join(p["cohorts"]), fmt_delta(p["estimate"], p["ci"]),
                         fmt_p(p["p_value"]), f"{p['tau2']:.2e}",
                         f"{p['q']:.2f} ({p['q_df']}, {fmt_p(p['q_p_value'])})", fmt_pct(p["i2"], 0),
                         str(p.get("min_df", DASH))])
    return _html_table(header, rows, "pooled")


def render_study_html(study: Mapping[str, Any], forest_html: str) -> str:
    """The whole study report as one HTML document (``forest_html``: the figure, or "")."""
    cohorts = study.get("cohorts") or []
    methods = study.get("methods") or {}
    answer = "".join(f"<li>{_e(s)}</li>\n" for s in [*map(cohort_sentence, cohorts), *pooled_sentences(study)])
    links = "".join(f"<li><a href=\"{_e(row['run_dir'])}/report.html\">{_e(row['name'])}</a> "
                    f"(<code>{_e(row['run_dir'])}</code>)</li>\n" for row in cohorts)
    notes = "".join(f"<p class=\"note\">{_e(k)}: {_e(v)}.</p>\n" for k, v in methods.items()
                    if k != "adjustment_method")
    return "\n".join([
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>intersurv study: {len(cohorts)} cohorts</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>intersurv study: {_e(', '.join(str(r['name']) for r in cohorts))}</h1>",
        f"<section class=\"verdict\">\n<h2>Combined answer</h2>\n<ul>\n{answer}</ul>\n</section>",
        forest_html or "<p class=\"note\">No forest plot: no paired comparison in any cohort.</p>",
        "<h2>Per cohort</h2>",
        _cohort_table(study),
        "<p class=\"note\">Best fusion model: the fusion architecture with the highest mean Harrell C in the "
        "cohort (a selection on the test folds). \u0394C = model minus reference on the same test patients, "
        "95 % interval of the corrected resampled t-test; Holm p adjusted over every cohort \u00d7 fusion "
        "architecture compared with that reference.</p>",
        "<h2>Pooled across cohorts</h2>",
        _pooled_table(study),
        "<h2>Methods</h2>",
        notes,
        "<h2>Cohort reports</h2>",
        f"<ul>\n{links}</ul>",
        f"<p class=\"note\">intersurv {_e(study.get('intersurv_version', '?'))}, created "
        f"{_e(study.get('created', '?'))}.</p>",
        "</body></html>",
        "",
    ])


def build_study_report(out: str | Path) -> Path:
    """Write ``plots/forest.png`` and ``study.html`` into the study directory ``out`` from its
    ``study.json``; return the report's path."""
    from .plots import png_bytes

    out = Path(out)
    path = out / "study.json"
    if not path.is_file():
        raise IntersurvError(f"{path}: not found (is {out} a finished study directory?)")
    study = json.loads(path.read_text(encoding="utf-8"))
    fig = study_forest(study)
    png = None if fig is None else png_bytes(fig)
    target = out / "plots" / "forest.png"
    if png is not None:
        with atomic_path(target) as tmp:
            tmp.write_bytes(png)
    elif target.exists():
        target.unlink()
    report = out / "study.html"
    write_text_atomic(report, render_study_html(study, forest_figure_html(png, STUDY_CAPTION)))
    return report
