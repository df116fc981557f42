"""The self-contained HTML report: tables, figures embedded as base64 PNG.

:func:`render_html` is pure: parsed results, the per-patient table and PNG
bytes in, one HTML string out, with no external resources. Every string that
comes from the data (architecture, modality and patient names, protocol
values, versions) passes through :func:`html.escape`.
"""

from __future__ import annotations

import base64
import html
from typing import Any, Mapping

import pandas as pd

from .answer import answer_html
from .comparisons import comparisons_html, verdict_html
from .plots import PLOTS
from .definitions import definitions_html
from .groups import groups_html
from .forest import FOREST_CSS, audit_lead_html
from .tables import fmt, key_value_html, main_table_html, null_table_html, prognostic_table_html, truth_html
from .thumbnails import PatchKey, patch_key

TOP_PATIENTS = 10

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; }
.note { color: #555; font-size: 0.85em; margin: 0.2em 0; }
figure { margin: 1em 0; }
figcaption { font-weight: 600; margin-bottom: 0.3em; }
img { max-width: 100%; }
.verdict { background: #f6f8fa; border-left: 4px solid #4a6fa5; padding: 0.2em 1em; margin: 1em 0; }
.verdict li { margin: 0.3em 0; }
.answer { background: #f6f8fa; border-left: 4px solid #2e7d32; padding: 0.2em 1em; margin: 1em 0; }
.answer-table td:first-child { font-weight: 600; white-space: nowrap; }
.patch { display: inline-flex; align-items: center; gap: 0.4em; margin: 0.1em 0; }
.patch img { width: 96px; height: auto; }
"""


def _e(v: Any) -> str:
    return html.escape(str(v))


def _cohort_line(results: Mapping[str, Any]) -> str:
    c = results.get("cohort") or {}
    mods = c.get("modalities") or {}
    lacking = c.get("missing") or {}
    mod_text = ", ".join(f"{k} ({v} features" + (f"; missing for {lacking[k]} patients, imputed by the "
                                                   f"training mean" if lacking.get(k) else "") + ")"
                         for k, v in mods.items()) or "\u2013"
    return (f"<p>Cohort <b>{_e(c.get('name', '?'))}</b>: {_e(c.get('n_patients', '?'))} patients, "
            f"{_e(c.get('n_events', '?'))} events; time unit {_e(c.get('time_unit', '?'))}; "
            f"modalities {_e(mod_text)}.</p>\n"
            f"<p class=\"note\">intersurv {_e(results.get('intersurv_version', '?'))}, "
            f"created {_e(results.get('created', '?'))}.</p>")


def _figures(images: Mapping[str, bytes]) -> str:
    parts = []
    for stem, (caption, _, _) in PLOTS.items():
        if stem in images:
            data = base64.b64encode(images[stem]).decode("ascii")
            parts.append(f"<figure><figcaption>{_e(caption)}</figcaption>"
                         f"<img alt=\"{_e(caption)}\" src=\"data:image/png;base64,{data}\"></figure>")
        else:
            parts.append(f"<p class=\"note\">{_e(caption)}: no data in this run.</p>")
    return "\n".join(parts)


def _prognostic(results: Mapping[str, Any]) -> str:
    unit = str((results.get("cohort") or {}).get("time_unit") or "")
    parts = ["<p class=\"note\">Cox hazard ratios per SD of local InterSHAP on test patients; "
             "the adjusted models add the model's own predicted log-risk (and group/covariates), "
             "since high-risk patients sit far from the masking baseline.</p>"]
    for name, a in (results.get("architectures") or {}).items():
        prog = (a or {}).get("prognostic")
        if isinstance(prog, Mapping):
            parts.append(f"<h3>{_e(name)}</h3>\n{prognostic_table_html(prog, unit)}")
    return "\n".join(parts) if len(parts) > 1 else "<p class=\"note\">No prognostic analysis in this run.</p>"


def _top_patients(patients: pd.DataFrame | None) -> str:
    if patients is None or patients.empty:
        return "<p class=\"note\">No per-patient table (patients.csv) in this run.</p>"
    top = patients.reindex(patients["local_intershap"].abs().sort_values(ascending=False).index).head(TOP_PATIENTS)
    header = ["patient", "architecture", "seed", "fold", "local InterSHAP", "log-risk", "time", "event"]
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in (
            r.patient_id, r.arch, r.seed, r.fold, fmt(r.local_intershap, 4), fmt(r.log_risk, 3),
            fmt(r.time, 2), int(r.event))) + "</tr>\n"
        for r in top.itertuples()
    )
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return f"<table class=\"patients\"><thead><tr>{head}</tr></thead><tbody>\n{rows}</tbody></table>"


def _patch_text(p: Mapping[str, Any]) -> str:
    where = "no coordinates" if p.get("x") is None else f"({fmt(p.get('x'), 0)}, {fmt(p.get('y'), 0)})"
    slide = f" {p['slide']}" if p.get("slide") else ""
    return f"#{p.get('patch')} {where}{slide}: {fmt(p.get('weight'), 4)}"


def _patch_html(p: Mapping[str, Any], thumbnails: Mapping[PatchKey, bytes]) -> str:
    text = _e(_patch_text(p))
    key = patch_key(p)
    png = thumbnails.get(key) if key is not None else None
    if png is None:
        return text
    data = base64.b64encode(png).decode("ascii")
    return f"<span class=\"patch\"><img alt=\"{text}\" src=\"data:image/png;base64,{data}\"> {text}</span>"


def _attention(results: Mapping[str, Any], thumbnails: Mapping[PatchKey, bytes] | None = None,
               problems: list[str] | None = None) -> str:
    """The most-attended patches of the highest- and lowest-risk test patients of each attention-MIL
    architecture ("" when the run has none), with their thumbnails where ``thumbnails`` has them
    (:mod:`.thumbnails`) and a note of the slides that gave none (``problems``)."""
    thumbnails = thumbnails or {}
    rows = []
    for name, a in (results.get("architectures") or {}).items():
        for m, picks in ((a or {}).get("attention") or {}).items():
            for role in ("highest", "lowest"):
                e = picks.get(role) or {}
                patches = "<br>".join(_patch_html(p, thumbnails) for p in e.get("patches") or [])
                rows.append("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in (
                    name, m, f"{role} risk", e.get("patient_id"), e.get("unit"), fmt(e.get("log_risk"), 3)))
                    + f"<td>{patches}</td></tr>\n")
    if not rows:
        return ""
    head = "".join(f"<th>{_e(h)}</th>" for h in ("architecture", "bag modality", "patient", "id", "unit",
                                                  "log-risk", "most-attended patches: #index (x, y) slide: weight"))
    shown = ("; thumbnails cut from the slide files given to <code>intersurv report --slides</code>" if thumbnails
             else "; <code>intersurv report RUN --slides DIR</code> adds their thumbnails from the slide files")
    missing = "".join(f"<li>{_e(line)}</li>" for line in problems or [])
    return ("<h2>Where attention-MIL models look</h2>\n<p class=\"note\">For the test patients with the highest "
            "and the lowest predicted risk (over all units), the patches with the largest attention weights "
            f"and their level-0 coordinates{shown}; every patch's weight is in the unit's attention.parquet.</p>\n"
            + (f"<p class=\"note\">No thumbnails for:</p><ul class=\"note\">{missing}</ul>\n" if missing else "")
            + f"<table class=\"attention\"><thead><tr>{head}</tr></thead><tbody>\n{''.join(rows)}</tbody></table>")


def _truth(results: Mapping[str, Any]) -> str:
    truth = results.get("truth")
    if not isinstance(truth, Mapping):
        return ""
    return "<h2>Ground truth (simulated cohort)</h2>\n" + truth_html(truth)


def render_html(results: Mapping[str, Any], patients: pd.DataFrame | None, images: Mapping[str, bytes],
                thumbnails: Mapping[PatchKey, bytes] | None = None, problems: list[str] | None = None) -> str:
    """The whole report as one HTML document (``thumbnails``, ``problems``: :func:`.thumbnails.patch_thumbnails`)."""
    protocol = dict(results.get("protocol") or {})
    seeds = protocol.get("seeds")
    name = (results.get("cohort") or {}).get("name", "")
    return "\n".join([
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>intersurv audit: {_e(name)}</title>",
        f"<style>{_CSS}{FOREST_CSS}</style></head><body>",
        f"<h1>intersurv audit: {_e(name)}</h1>",
        _cohort_line(results),
        answer_html(results),
        audit_lead_html(verdict_html(results), results),
        definitions_html(results),
        "<h2>Main table</h2>",
        main_table_html(results),
        comparisons_html(results),
        null_table_html(results),
        _truth(results),
        "<h2>Figures</h2>",
        _figures(images),
        groups_html(results),
        "<h2>Is interaction prognostic?</h2>",
        _prognostic(results),
        "<h2>Patients with the strongest interaction</h2>",
        _top_patients(patients),
        _attention(results, thumbnails, problems),
        "<h2>Protocol</h2>",
        f"<p>Seeds: {_e(', '.join(map(str, seeds)) if isinstance(seeds, list) else seeds)}</p>",
        key_value_html(protocol),
        "<h2>Versions</h2>",
        key_value_html(dict(results.get("versions") or {})),
        "</body></html>",
        "",
    ])
