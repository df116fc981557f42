"""The audit's tables, from ``results.json``, as plain text and as HTML.

Numbers are formatted here and nowhere else: C-index, Uno's C and the IBS with
three decimals; InterSHAP and shares (fractions in results.json) as percents
with one decimal. A missing or non-finite number prints as an en dash. Every
string that comes from the data is escaped with :func:`html.escape` in the
HTML versions.
"""

from __future__ import annotations

import html
import math
from typing import Any, Mapping, Sequence

DASH = "\u2013"
PM = "\u00b1"

MAIN_COLUMNS = (
    "architecture", "params", "C-index", "Uno C", "IBS", "InterSHAP", "shares", "synergy share",
    "additive C-index",
)
NULL_COLUMNS = ("architecture", "InterSHAP", "additive null", "excess", "p per unit")
NULL_NOTE = ("additive null: InterSHAP of the architecture refitted on outcomes drawn from each unit model's "
             "additive projection (no interaction in the data), explained like the unit; excess = InterSHAP - "
             "null; p = Monte-Carlo p-value of each unit (seed/fold) that its InterSHAP exceeds its null.")
PROGNOSTIC_MODELS = (
    ("unadjusted", "unadjusted"),
    ("adjusted_for_risk", "adjusted for predicted risk"),
    ("adjusted_for_risk_and_covariates", "adjusted for risk + group/covariates"),
)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def fmt(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals, or a dash when missing or not finite."""
    x = _num(v)
    return DASH if x is None else f"{round(x, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.000"


def fmt_pct(v: Any, digits: int = 1) -> str:
    """A fraction as a percent (0.048 -> '4.8 %'), or a dash."""
    x = _num(v)
    return DASH if x is None else f"{round(100 * x, digits) + 0.0:.{digits}f} %"


def fmt_p(v: Any) -> str:
    """A p-value: three significant digits, '< 1e-4' below that."""
    x = _num(v)
    if x is None:
        return DASH
    return "< 1e-4" if x < 1e-4 else f"{x:.3g}"


def fmt_mean_sd(stat: Mapping[str, Any] | None, digits: int = 3, pct: bool = False, across: bool = False) -> str:
    """'mean ± sd', with ' (n seeds)' when ``across``, from a ``{"mean", "sd", "n", "across"}`` entry."""
    if not isinstance(stat, Mapping):
        return DASH
    f = fmt_pct if pct else fmt
    mean = f(stat.get("mean"), 1 if pct else digits)
    if mean == DASH:
        return DASH
    text = mean
    if _num(stat.get("sd")) is not None:
        text += f" {PM} {f(stat.get('sd'), 1 if pct else digits)}"
    over, n = stat.get("across"), _num(stat.get("n"))
    if across and over:
        text += f" ({int(n)} {over})" if n is not None else f" ({over})"
    return text


def fmt_ci(ci: Any, pct: bool = False, digits: int = 3) -> str:
    """'[lo, hi]' or a dash."""
    if not isinstance(ci, Sequence) or isinstance(ci, str) or len(ci) != 2:
        return DASH
    f = fmt_pct if pct else fmt
    lo, hi = f(ci[0], 1 if pct else digits), f(ci[1], 1 if pct else digits)
    return DASH if DASH in (lo, hi) else f"[{lo}, {hi}]"


def fmt_shares(shares: Any) -> str:
    """'rna 55.0 % · wsi 40.0 % · interaction 4.0 %' (interaction last)."""
    if not isinstance(shares, Mapping) or not shares:
        return DASH
    keys = [k for k in shares if k != "interaction"] + (["interaction"] if "interaction" in shares else [])
    return " \u00b7 ".join(f"{k} {fmt_pct(shares[k])}" for k in keys)


def _intershap_cell(ish: Any) -> str:
    if not isinstance(ish, Mapping):
        return DASH
    text = fmt_mean_sd({"mean": ish.get("mean"), "sd": ish.get("sd")}, pct=True)
    ci = fmt_ci(ish.get("ci"), pct=True)
    return text if ci == DASH else f"{text} {ci}"


def _synergy_cell(synergy: Any) -> str:
    """The pooled synergy share and its CI (``architectures.<name>.synergy``), or a dash."""
    if not isinstance(synergy, Mapping):
        return DASH
    text = fmt_pct((synergy.get("overall") or {}).get("synergy_share"))
    ci = fmt_ci(synergy.get("synergy_share_ci"), pct=True)
    return text if ci == DASH else f"{text} {ci}"


def main_table_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """One row of strings per architecture (plus a ground-truth row when known)."""
    rows = []
    for name, a in (results.get("architectures") or {}).items():
        a = a or {}
        params = _num(a.get("params"))
        rows.append([
            str(name),
            DASH if params is None else f"{int(params):,}",
            fmt_mean_sd(a.get("c_index"), across=True),
            fmt_mean_sd(a.get("c_uno")),
            fmt_mean_sd(a.get("ibs")),
            _intershap_cell(a.get("intershap")),
            fmt_shares(a.get("shares")),
            _synergy_cell(a.get("synergy")),
            fmt_mean_sd(a.get("additive_c_index")),
        ])
    truth = results.get("truth")
    if isinstance(truth, Mapping):
        rows.append([
            "ground truth", DASH, DASH, DASH, DASH, fmt_pct(truth.get("intershap")),
            fmt_shares(truth.get("shares")), fmt_pct(truth.get("synergy_share")), DASH,
        ])
    return rows


def table_notes(results: Mapping[str, Any]) -> list[str]:
    """What the numbers mean: the ± and the InterSHAP settings."""
    notes = [f"{PM} is the SD across the runs named in the C-index column (seeds and/or folds), "
             "not across patients."]
    settings = set()
    for a in (results.get("architectures") or {}).values():
        ish = (a or {}).get("intershap")
        if isinstance(ish, Mapping):
            settings.add(tuple(str(ish.get(k)) for k in ("aggregation", "masker", "output")))
    for agg, masker, output in sorted(settings):
        notes.append(f"InterSHAP: aggregation {agg}, masker {masker}, output {output}; "
                     "[..] is the bootstrap 95 % CI.")
    notes.append("synergy share: the part of the models' pairwise interaction (mean |Möbius interaction|) "
                 "where the joint effect of a pair exceeds the sum of its separate effects; redundancy is the "
                 "rest (docs/design.md).")
    truth = results.get("truth")
    if isinstance(truth, Mapping):
        notes.append(f"Ground truth: aggregation {truth.get('aggregation')}, masker {truth.get('masker')}.")
    return notes


def null_table_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """One row per architecture that has an additive null (:data:`NULL_COLUMNS`); none if not run."""
    rows = []
    for name, a in (results.get("architectures") or {}).items():
        null = (a or {}).get("additive_null")
        if not isinstance(null, Mapping):
            continue
        rows.append([
            str(name),
            fmt_mean_sd(a.get("intershap"), pct=True),
            fmt_mean_sd(null.get("intershap"), pct=True),
            fmt_mean_sd(null.get("excess"), pct=True),
            ", ".join(fmt_p(p) for p in null.get("p") or []) or DASH,
        ])
    return rows


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    rows = [list(header)] + [list(r) for r in rows]
    widths = [max(len(r[j]) for r in rows) for j in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_main_table(results: Mapping[str, Any]) -> str:
    """The main table (and the additive-null table, when it was run) as fixed-width text for the terminal."""
    lines = _text_table(MAIN_COLUMNS, main_table_rows(results)) + [""] + table_notes(results)
    null_rows = null_table_rows(results)
    if null_rows:
        lines += ["", "Interaction beyond the additive null:"] + _text_table(NULL_COLUMNS, null_rows) + [NULL_NOTE]
    return "\n".join(lines)


def _html_table(header: Sequence[str] | None, rows: Sequence[Sequence[str]], cls: str) -> str:
    """An escaped HTML table; ``header`` None: no header row (key/value tables)."""
    e = html.escape
    head = "" if header is None else "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead>\n"
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>\n" for r in rows)
    return f'<table class="{e(cls)}">\n{head}<tbody>\n{body}</tbody>\n</table>'


def main_table_html(results: Mapping[str, Any]) -> str:
    """The main table as an HTML ``<table>`` with its notes; all text escaped."""
    notes = "".join(f"<p class=\"note\">{html.escape(n)}</p>" for n in table_notes(results))
    return _html_table(MAIN_COLUMNS, main_table_rows(results), "main") + "\n" + notes


def null_table_html(results: Mapping[str, Any]) -> str:
    """The additive-null table as HTML with its note, or "" when the audit did not run it."""
    rows = null_table_rows(results)
    if not rows:
        return ""
    return ("<h2>Interaction beyond the additive null</h2>\n" + _html_table(NULL_COLUMNS, rows, "main")
            + f"\n<p class=\"note\">{html.escape(NULL_NOTE)}</p>")


def prognostic_rows(prog: Mapping[str, Any]) -> list[list[str]]:
    """Rows (statistic, unadjusted, adjusted for risk, adjusted for risk + covariates)."""
    models = prog.get("models") or {}
    cols = [models.get(key) or {} for key, _ in PROGNOSTIC_MODELS]

    def row(label: str, fn) -> list[str]:
        return [label] + [fn(m) for m in cols]

    rows = [
        row("patients / events", lambda m: f"{m.get('n', DASH)} / {m.get('n_events', DASH)}"
            if _num(m.get("n")) else DASH),
        row("HR per SD", lambda m: fmt(m.get("hr_per_sd"), 2)),
        row("Wald 95 % CI", lambda m: fmt_ci(m.get("ci"), digits=2)),
        row("Wald p", lambda m: fmt_p(m.get("p"))),
        row("bootstrap 95 % CI", lambda m: fmt_ci(m.get("ci_bootstrap"), digits=2)),
        row("permutation p", lambda m: fmt_p(m.get("p_permutation")) if "p_permutation" in m else ""),
        row("adjusted for", lambda m: (", ".join(map(str, m.get("covariates") or [])) or "nothing")
            if _num(m.get("n")) else DASH),
        row("note", lambda m: str(m.get("reason") or "")),
    ]
    return rows


def prognostic_summary(prog: Mapping[str, Any], time_unit: str = "") -> list[str]:
    """One line each for the median split, quartile trend and RMST difference."""
    if not prog.get("ok", True):
        return [f"not computed: {prog.get('reason')}"]
    km, qt, rm = prog.get("km_median_split") or {}, prog.get("quartile_trend") or {}, prog.get("rmst") or {}
    unit = f" {time_unit}" if time_unit else ""
    return [
        f"1 SD of local InterSHAP = {fmt(prog.get('sd'), 4)}; {prog.get('bootstrap', DASH)} bootstrap "
        f"resamples, {prog.get('permutations', DASH)} permutations, seed {prog.get('seed', DASH)}.",
        f"Median split at {fmt(km.get('threshold'), 4)}: log-rank chi2 {fmt(km.get('logrank_chi2'), 2)}, "
        f"p {fmt_p(km.get('logrank_p'))}.",
        f"Quartile trend (Cox on quartile index): HR per quartile {fmt(qt.get('hr_per_quartile'), 2)} "
        f"{fmt_ci(qt.get('ci'), digits=2)}, p {fmt_p(qt.get('p'))}; global log-rank across quartiles "
        f"p {fmt_p(qt.get('global_logrank_p'))}.",
        f"RMST up to tau = {fmt(rm.get('tau'), 2)}{unit}: high {fmt(rm.get('high'), 2)}, "
        f"low {fmt(rm.get('low'), 2)}, difference {fmt(rm.get('difference'), 2)}{unit} "
        f"{fmt_ci(rm.get('ci_bootstrap'), digits=2)}.",
    ]


def prognostic_table_html(prog: Mapping[str, Any], time_unit: str = "") -> str:
    """The prognostic statistics of one architecture, adjusted and unadjusted side by side;
    only the reason when the analysis was not run (e.g. no interaction to analyse)."""
    if not prog.get("ok", True):
        reason = str(prog.get("reason") or "not analysed")
        return f"<p>{html.escape(reason[:1].upper() + reason[1:])}.</p>"
    header = ["statistic"] + [label for _, label in PROGNOSTIC_MODELS]
    lines = "".join(f"<p>{html.escape(s)}</p>" for s in prognostic_summary(prog, time_unit))
    return _html_table(header, prognostic_rows(prog), "prognostic") + "\n" + lines


def fmt_value(v: Any) -> str:
    """Any JSON value for reading: numbers with 4 significant digits (integers whole), lists joined
    with commas, mappings as ``key value`` pairs, None as a dash."""
    if isinstance(v, (list, tuple)):
        return ", ".join(map(fmt_value, v))
    if isinstance(v, Mapping):
        return ", ".join(f"{k} {fmt_value(x)}" for k, x in v.items())
    if isinstance(v, float):
        return DASH if not math.isfinite(v) else (f"{v:,.0f}" if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}")
    return DASH if v is None else str(v)


def key_value_html(items: Mapping[str, Any], cls: str = "kv") -> str:
    """A two-column table of ``key | value`` with no header row, values by :func:`fmt_value`, escaped."""
    return _html_table(None, [[str(k), fmt_value(v)] for k, v in items.items()], cls)


def truth_rows(truth: Mapping[str, Any]) -> list[list[str]]:
    """The ground truth of a simulated cohort as (what, value) rows, every number formatted."""
    rows = [["scenario", fmt_value(truth.get("scenario"))]]
    if isinstance(truth.get("params"), Mapping) and truth["params"]:
        rows.append(["scenario parameters", fmt_value(truth["params"])])
    ish = {"mean": truth.get("intershap"), "sd": truth.get("intershap_sd")}
    rows.append(["InterSHAP of the true log-risk", fmt_mean_sd(ish, pct=True)])
    rows.append(["shares", fmt_shares(truth.get("shares"))])
    whole = truth.get("whole_cohort")
    if isinstance(whole, Mapping):
        rows.append(["InterSHAP on the whole cohort", fmt_pct(whole.get("intershap"))])
        rows.append(["shares on the whole cohort", fmt_shares(whole.get("shares"))])
    rows.append(["explained with", f"masker {truth.get('masker', DASH)}, aggregation "
                                   f"{truth.get('aggregation', DASH)}, output {truth.get('output', DASH)}"])
    if truth.get("definition"):
        rows.append(["how", str(truth["definition"])])
    if truth.get("unit_truth_skipped"):
        rows.append(["not explained per unit", str(truth["unit_truth_skipped"])])
    return rows


def truth_html(truth: Mapping[str, Any]) -> str:
    """The ground-truth table (no header row)."""
    return _html_table(None, truth_rows(truth), "kv")
