"""The report's figures, rendered to PNG bytes with matplotlib's Agg canvas.

Each ``plot_*`` function takes the parsed ``results.json`` (and, for the
per-patient distribution, the ``patients.csv`` table) and returns a
:class:`matplotlib.figure.Figure`, or ``None`` when the data it needs is
absent. Figures are built without pyplot, so no global backend state is
touched. InterSHAP and shares (fractions in results.json) are drawn in percent.
"""

from __future__ import annotations

import io
import math
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

DPI = 110


def _label(text: Any) -> str:
    """Data text for matplotlib: '$' would start mathtext, so escape it."""
    return str(text).replace("$", r"\$")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _stat(entry: Any, key: str = "mean") -> float:
    v = entry.get(key) if isinstance(entry, Mapping) else None
    return float(v) if _finite(v) else float("nan")


def _archs(results: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(k): (v or {}) for k, v in (results.get("architectures") or {}).items()}


def plot_cindex_vs_intershap(results: Mapping[str, Any]) -> Figure | None:
    """Test C-index against InterSHAP, mean ± sd across runs, truth as a vertical line."""
    pts = []
    for name, a in _archs(results).items():
        x, y = 100 * _stat(a.get("intershap")), _stat(a.get("c_index"))
        if np.isfinite(x) and np.isfinite(y):
            pts.append((name, x, 100 * _stat(a.get("intershap"), "sd"), y, _stat(a.get("c_index"), "sd")))
    if not pts:
        return None
    fig = Figure(figsize=(8.4, 4.6), dpi=DPI)
    ax = fig.add_subplot()
    for i, (name, x, xe, y, ye) in enumerate(pts):
        ax.errorbar(x, y, xerr=np.nan_to_num(xe), yerr=np.nan_to_num(ye), fmt="o", capsize=3,
                    color=f"C{i % 10}", label=_label(name))
    truth = results.get("truth")
    if isinstance(truth, Mapping) and _finite(truth.get("intershap")):
        ax.axvline(100 * truth["intershap"], color="k", ls="--", lw=1, label="ground truth")
    ax.set_xlabel("InterSHAP (%)")
    ax.set_ylabel("test C-index (Harrell)")
    ax.set_title("Discrimination vs cross-modal interaction (mean \u00b1 sd across runs)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_shares(results: Mapping[str, Any]) -> Figure | None:
    """Stacked horizontal bars: modality shares and the interaction share per architecture."""
    bars = {name: a["shares"] for name, a in _archs(results).items() if isinstance(a.get("shares"), Mapping)}
    truth = results.get("truth")
    if isinstance(truth, Mapping) and isinstance(truth.get("shares"), Mapping):
        bars["ground truth"] = truth["shares"]
    if not bars:
        return None
    keys: list[str] = []
    for s in bars.values():
        keys += [str(k) for k in s if k != "interaction" and str(k) not in keys]
    keys.append("interaction")
    fig = Figure(figsize=(7.0, 0.5 * len(bars) + 2.0), dpi=DPI)
    ax = fig.add_subplot()
    names = list(bars)
    left = np.zeros(len(names))
    for j, key in enumerate(keys):
        vals = np.array([100 * _stat({"v": bars[n].get(key)}, "v") for n in names])
        vals = np.nan_to_num(vals)
        ax.barh(range(len(names)), vals, left=left, color="0.25" if key == "interaction" else f"C{j % 10}",
                label=_label(key))
        left += vals
    ax.set_yticks(range(len(names)), [_label(n) for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("share of the model's behaviour (%)")
    ax.set_title("Modality and interaction shares")
    ax.set_xlim(0, 100)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=min(len(keys), 4))
    fig.tight_layout()
    return fig


def plot_interaction_distribution(patients: pd.DataFrame | None) -> Figure | None:
    """Box plot of per-patient local InterSHAP per architecture (pooled over seeds and folds)."""
    if patients is None or "local_intershap" not in patients or "arch" not in patients:
        return None
    data = {str(a): g["local_intershap"].dropna().to_numpy(float)
            for a, g in patients.groupby("arch", sort=False)}
    data = {a: v for a, v in data.items() if len(v)}
    if not data:
        return None
    fig = Figure(figsize=(max(6.4, 1.0 * len(data) + 2), 4.6), dpi=DPI)
    ax = fig.add_subplot()
    ax.boxplot(list(data.values()), showmeans=True)
    ax.set_xticks(range(1, len(data) + 1), [_label(a) for a in data], rotation=20, ha="right")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_ylabel("local InterSHAP per patient")
    ax.set_title("Per-patient interaction (test patients, all runs pooled)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_km_by_interaction(results: Mapping[str, Any]) -> Figure | None:
    """Kaplan-Meier curves of patients above / at-or-below the median local interaction."""
    panels = []
    for name, a in _archs(results).items():
        km = (a.get("prognostic") or {}).get("km_median_split") or {}
        if km.get("groups"):
            panels.append((name, km))
    if not panels:
        return None
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows), dpi=DPI)
    unit = str((results.get("cohort") or {}).get("time_unit") or "")
    for k, (name, km) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        for label, color in (("low", "C0"), ("high", "C3")):
            g = km["groups"].get(label)
            if g and g.get("times"):
                ax.step(g["times"], g["survival"], where="post", color=color,
                        label=f"{label} interaction (n={g.get('n')})")
        p = km.get("logrank_p")
        ptxt = f"log-rank p = {p:.3g}" if _finite(p) else "log-rank p n/a"
        ax.set_title(f"{_label(name)}\n{ptxt}", fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"time ({_label(unit)})" if unit else "time")
        ax.set_ylabel("survival")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_time_curves(results: Mapping[str, Any]) -> Figure | None:
    """InterSHAP at each horizon t (results' ``time_curve``), per architecture."""
    curves = []
    for name, a in _archs(results).items():
        tc = a.get("time_curve") or {}
        t = np.array([v if _finite(v) else np.nan for v in tc.get("times") or []], float)
        y = np.array([v if _finite(v) else np.nan for v in tc.get("intershap") or []], float)
        if len(t) and len(t) == len(y):
            curves.append((name, t, 100 * y))
    if not curves:
        return None
    fig = Figure(figsize=(6.4, 4.2), dpi=DPI)
    ax = fig.add_subplot()
    for i, (name, t, y) in enumerate(curves):
        ax.plot(t, y, marker="o", ms=3, color=f"C{i % 10}", label=_label(name))
    unit = str((results.get("cohort") or {}).get("time_unit") or "")
    ax.set_xlabel(f"horizon t ({_label(unit)})" if unit else "horizon t")
    ax.set_ylabel("InterSHAP at horizon t (%)")
    ax.set_title("Time-dependent interaction")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


from .groups import plot_group_matrix  # noqa: E402 (it uses this module's helpers)

PLOTS: dict[str, tuple[str, Callable[..., Figure | None], bool]] = {
    # file stem: (caption, function, whether it takes the patients table)
    "cindex_vs_intershap": ("C-index vs InterSHAP", plot_cindex_vs_intershap, False),
    "shares": ("Modality and interaction shares", plot_shares, False),
    "interaction_distribution": ("Per-patient interaction", plot_interaction_distribution, True),
    "km_by_interaction": ("Kaplan-Meier by interaction group", plot_km_by_interaction, False),
    "time_curves": ("Time-dependent interaction", plot_time_curves, False),
    "group_matrix": ("Feature-group interaction matrix", plot_group_matrix, False),
}


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def render_plots(results: Mapping[str, Any], patients: pd.DataFrame | None) -> dict[str, bytes]:
    """PNG bytes of every figure the data supports, keyed by file stem (order of :data:`PLOTS`)."""
    out = {}
    for stem, (_, fn, needs_patients) in PLOTS.items():
        fig = fn(patients) if needs_patients else fn(results)
        if fig is not None:
            out[stem] = png_bytes(fig)
    return out
