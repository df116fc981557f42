"""Forest plots of paired ΔC: one audit's models against each reference, and a study's cohorts.

Each row is a difference in Harrell's C (model minus reference on the same test
patients) with its 95 % interval: the corrected resampled t-test of
:mod:`intersurv.audit.comparisons` per cohort, and for a study's pooled rows the
DerSimonian-Laird random-effects estimate with its modified Hartung-Knapp interval
(:mod:`intersurv.audit.meta`), drawn as a diamond. Figures are built without
pyplot (Agg canvas), like :mod:`.plots`; :func:`forest_figure_html` embeds one
as a captioned base64 PNG, escaping every text.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from .plots import DPI, _finite, _label, png_bytes

#: Reference -> panel title.
REF_TITLES = {"late": "vs late fusion", "best_unimodal": "vs best unimodal", "clinical": "vs clinical"}

AUDIT_CAPTION = ("Difference in Harrell's C, model minus reference, on the same test patients (> 0 favours the "
                 "model); bars: 95 % intervals of the corrected resampled t-test (Nadeau & Bengio) over the "
                 "seeds and folds, not adjusted for multiple comparisons")
STUDY_CAPTION = ("Difference in Harrell's C, fusion architecture minus reference, per cohort (> 0 favours "
                 "fusion); bars: each cohort's 95 % interval of the corrected resampled t-test over its seeds "
                 "and folds (not adjusted for multiple comparisons); diamonds: DerSimonian-Laird random-effects "
                 "pooled estimate with its 95 % modified Hartung-Knapp interval (t on cohorts - 1 df)")

#: Layout of the lead (verdict beside the forest plot; the figure wraps below on narrow screens).
FOREST_CSS = """
.lead { display: flex; flex-wrap: wrap; gap: 0 1.5em; align-items: flex-start; }
.lead-text { flex: 1 1 420px; min-width: 0; }
figure.forest { flex: 1 1 520px; min-width: 0; margin-top: 1em; }
figure.forest figcaption { font-weight: normal; font-size: 0.85em; color: #555; }
"""


@dataclass(frozen=True)
class ForestRow:
    """One line of a forest plot: a label, the difference and its interval; ``pooled`` draws a diamond."""

    label: str
    delta: float
    low: float
    high: float
    pooled: bool = False


def _num(v: Any) -> float:
    return float(v) if _finite(v) else float("nan")


def _aligned(panels: Mapping[str, Mapping[str, ForestRow]]) -> dict[str, list[ForestRow]]:
    """Every panel on the union of the row labels (first-seen order); a label a panel lacks is an
    empty row, so that the panels share their rows."""
    labels: list[str] = []
    for rows in panels.values():
        labels += [k for k in rows if k not in labels]
    empty = float("nan")
    return {title: [rows.get(k) or ForestRow(k, empty, empty, empty) for k in labels]
            for title, rows in panels.items()}


def forest_figure(panels: Mapping[str, Mapping[str, ForestRow]]) -> Figure | None:
    """One panel per title, side by side on shared rows (:func:`_aligned`) top to bottom, a vertical
    line at ΔC = 0; None without any finite difference."""
    kept = {t: r for t, r in panels.items() if any(np.isfinite(x.delta) for x in r.values())}
    if not kept:
        return None
    aligned = _aligned(kept)
    labels = [r.label for r in next(iter(aligned.values()))]
    fig = Figure(figsize=(1.2 + 0.075 * max(len(k) for k in labels) + 2.3 * len(aligned),
                          1.1 + 0.22 * len(labels)), dpi=DPI)
    axes = fig.subplots(1, len(aligned), sharey=True, squeeze=False)[0]
    for ax, (title, rows) in zip(axes, aligned.items()):
        for i, r in enumerate(rows):
            color = "k" if r.pooled else "C0"
            if np.isfinite(r.low) and np.isfinite(r.high):
                ax.hlines(i, r.low, r.high, color=color, lw=1.4 if r.pooled else 1.0)
            if np.isfinite(r.delta):
                ax.plot(r.delta, i, marker="D" if r.pooled else "s", color=color, ms=6 if r.pooled else 4)
        ax.axvline(0, color="0.5", lw=0.8, ls="--")
        ax.set_title(_label(title), fontsize=9)
        ax.set_xlabel("\u0394C (Harrell)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(np.arange(len(labels)), [_label(k) for k in labels])
    axes[0].set_ylim(len(labels) - 0.5, -0.5)
    fig.tight_layout()
    return fig


def _row(label: str, entry: Mapping[str, Any]) -> ForestRow:
    lo, hi = (list(entry.get("ci") or []) + [None, None])[:2]
    return ForestRow(label, _num(entry.get("delta_c")), _num(lo), _num(hi))


def audit_forest(results: Mapping[str, Any]) -> Figure | None:
    """One audit's ΔC of every architecture against each reference (``results["comparisons"]``)."""
    table = results.get("comparisons") or {}
    refs = results.get("references") or {}
    panels: dict[str, dict[str, ForestRow]] = {}
    for ref, title in REF_TITLES.items():
        rows = {str(name): _row(str(name), entry[ref]) for name, entry in table.items() if (entry or {}).get(ref)}
        if rows:
            ref_arch = refs.get(ref)
            panels[title + ("" if ref_arch in (None, ref) else f" ({ref_arch})")] = rows
    return forest_figure(panels)


def study_forest(study: Mapping[str, Any]) -> Figure | None:
    """A study's ΔC per fusion architecture and cohort against each reference, with the pooled estimate
    (``study.json``'s ``comparisons`` and ``pooled``)."""
    panels: dict[str, dict[str, ForestRow]] = {}
    for ref, by_arch in (study.get("comparisons") or {}).items():
        rows: dict[str, ForestRow] = {}
        for arch, by_cohort in by_arch.items():
            for cohort, e in by_cohort.items():
                label = f"{arch} \u00b7 {cohort}"
                rows[label] = _row(label, e)
            pool = ((study.get("pooled") or {}).get(ref) or {}).get(arch) or {}
            if "estimate" in pool:
                label = f"{arch} \u00b7 pooled"
                rows[label] = ForestRow(label, pool["estimate"], *map(_num, pool["ci"]), pooled=True)
        panels[REF_TITLES.get(ref, ref)] = rows
    return forest_figure(panels)


def forest_figure_html(png: bytes | None, caption: str, css_class: str = "forest") -> str:
    """A captioned ``<figure>`` with the PNG inline, or "" without one."""
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    text = html.escape(caption)
    return (f"<figure class=\"{html.escape(css_class)}\"><figcaption>{text}</figcaption>"
            f"<img alt=\"{text}\" src=\"data:image/png;base64,{data}\"></figure>")


def audit_lead_html(verdict: str, results: Mapping[str, Any]) -> str:
    """The top of report.html: the verdict section beside the forest plot of :func:`audit_forest`."""
    fig = audit_forest(results)
    figure = forest_figure_html(None if fig is None else png_bytes(fig), AUDIT_CAPTION)
    if not figure:
        return verdict
    return f"<div class=\"lead\">\n<div class=\"lead-text\">{verdict}</div>\n{figure}\n</div>"
