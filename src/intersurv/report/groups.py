"""The report's feature-group section: the group x group interaction heatmap and the top pairs.

Reads ``results["architectures"][arch]["groups"]`` and ``results["group_test"]``
(docs/results.md); absent without ``--groups``.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from .tables import fmt_ci, fmt_p, fmt_pct

#: Pairs per architecture in the report's table.
REPORT_PAIRS = 5


def _with_groups(results: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(k): v["groups"] for k, v in (results.get("architectures") or {}).items()
            if isinstance(v, Mapping) and isinstance(v.get("groups"), Mapping)}


def pair_matrix(groups: Mapping[str, Any]) -> np.ndarray:
    """The symmetric matrix drawn: off the diagonal the pair share ``S_ij + S_ji``, on it ``S_ii``."""
    s = np.array(groups["share_matrix"], dtype=float)
    out = s + s.T
    np.fill_diagonal(out, np.diag(s))
    return out


def plot_group_matrix(results: Mapping[str, Any]) -> Figure | None:
    """One heatmap per architecture: the pair shares ``S_ij + S_ji`` in percent (``abs`` aggregation); the
    diagonal (the groups' main shares, usually much larger) is left blank so the colours show interaction."""
    from .plots import DPI, _label

    panels = _with_groups(results)
    if not panels:
        return None
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    size = max(len(g["players"]) for g in panels.values())
    mats = {}
    for name, g in panels.items():
        m = 100 * pair_matrix(g)
        np.fill_diagonal(m, np.nan)
        mats[name] = m
    vmax = max((float(np.nanmax(m)) for m in mats.values() if np.isfinite(m).any()), default=0.0) or 1.0
    fig = Figure(figsize=(4.6 * ncols, 3.9 * nrows + 0.15 * size), dpi=DPI, layout="constrained")
    im = None
    for k, (name, m) in enumerate(mats.items()):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        im = ax.imshow(m, cmap="viridis", vmin=0, vmax=vmax)
        ticks = [_label(p) for p in panels[name]["players"]]
        ax.set_xticks(range(len(ticks)), ticks, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(ticks)), ticks, fontsize=7)
        if len(ticks) <= 8:
            for i in range(len(ticks)):
                for j in range(len(ticks)):
                    if np.isfinite(m[i, j]):
                        ax.text(j, i, f"{m[i, j]:.1f}", ha="center", va="center", fontsize=6,
                                color="w" if m[i, j] < 0.6 * vmax else "k")
        ax.set_title(_label(name), fontsize=9)
    fig.colorbar(im, ax=fig.axes, shrink=0.6, label="pair interaction share (%)")
    return fig


def _test_line(test: Mapping[str, Any]) -> str:
    a, b = (test.get("groups") or ["?", "?"])[:2]
    if test.get("p_value") is None:
        return f"Cohort-level test of no interaction between {a} and {b}: not run ({test.get('skipped', '?')})."
    return (f"Cohort-level test of no interaction between {a} and {b}: p = {fmt_p(test.get('p_value'))} "
            f"({test.get('calibration', '')}).")


def format_groups(results: Mapping[str, Any]) -> str:
    """The terminal lines: per architecture its top pairs, then the group-pair test ('' without groups)."""
    panels = _with_groups(results)
    if not panels:
        return ""
    lines = ["Feature groups (pair share of the abs InterSHAP matrix over the groups, 95 % bootstrap CI):"]
    for name, g in panels.items():
        pairs = "; ".join(f"{p['pair'][0]} x {p['pair'][1]} {fmt_pct(p['share'])} {fmt_ci(p.get('ci'), pct=True)}"
                          for p in g.get("top_pairs", [])[:3])
        lines.append(f"  {name}: {pairs}")
    if isinstance(results.get("group_test"), Mapping):
        lines.append(_test_line(results["group_test"]))
    return "\n".join(lines)


def groups_html(results: Mapping[str, Any]) -> str:
    """The top interacting pairs per architecture, and the group-pair test."""
    panels = _with_groups(results)
    if not panels:
        return ""
    e = html.escape
    parts = ["<h2>Feature-group interactions</h2>",
             "<p class=\"note\">Players are the feature groups (and each modality's ungrouped columns, "
             "<i>modality</i>:rest); every model is explained with the same players. Pair share = "
             "(\u03a6<sub>ij</sub> + \u03a6<sub>ji</sub>) / \u03a3 \u03a6 with \u03a6<sub>ij</sub> the mean "
             "over test patients of |\u03c6<sub>ij</sub>| (abs aggregation); 95 % percentile bootstrap "
             "intervals over the pooled test patients.</p>",
             "<table class=\"groups\"><thead><tr><th>architecture</th><th>group InterSHAP</th>"
             "<th>top pairs (share, 95 % CI)</th></tr></thead><tbody>"]
    for name, g in panels.items():
        pairs = "<br>".join(f"{e(p['pair'][0])} \u00d7 {e(p['pair'][1])}: {fmt_pct(p['share'])} "
                            f"{e(fmt_ci(p.get('ci'), pct=True))}" for p in g.get("top_pairs", [])[:REPORT_PAIRS])
        parts.append(f"<tr><td>{e(name)}</td><td>{fmt_pct(g.get('intershap'))} "
                     f"{e(fmt_ci(g.get('intershap_ci'), pct=True))}</td><td>{pairs}</td></tr>")
    parts.append("</tbody></table>")
    if isinstance(results.get("group_test"), Mapping):
        parts.append(f"<p>{e(_test_line(results['group_test']))}</p>")
    return "\n".join(parts)
