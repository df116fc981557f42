"""The verdict and the paired-comparisons table, as terminal text and as HTML.

Reads ``results["verdict"]`` (sentences, :mod:`intersurv.audit.verdict`),
``results["comparisons"]`` and ``results["references"]``
(:mod:`intersurv.audit.comparisons`). A difference is the architecture minus the
reference on the same test patients: positive is better for C, negative for the
IBS. All text from the data is escaped in the HTML.
"""

from __future__ import annotations

import html
import textwrap
from typing import Any, Mapping

from .tables import DASH, _html_table, _num, _text_table, fmt_p, format_main_table

REF_TITLES = {"late": "late fusion", "best_unimodal": "best unimodal", "clinical": "clinical",
              "pooled": "the same on pooled bags"}
COMPARISON_NOTE = ("\u0394 = architecture minus reference on the same test patients of every seed and fold "
                   "(C: higher is better; IBS: lower is better); [..] = 95 % interval of the corrected "
                   "resampled t-test (Nadeau & Bengio), p two-sided; discordant = share of comparable test "
                   "pairs the two models order differently.")


def fmt_delta(delta: Any, ci: Any) -> str:
    """'+0.012 [-0.004, +0.028]': a signed difference with its interval, or a dash."""
    d = _num(delta)
    if d is None:
        return DASH
    lo, hi = (_num(v) for v in (ci if isinstance(ci, (list, tuple)) and len(ci) == 2 else (None, None)))
    def signed(x: float) -> str:
        return f"{round(x, 3) + 0.0:+.3f}"  # + 0.0: no "-0.000"

    text = signed(d)
    return text if lo is None or hi is None else f"{text} [{signed(lo)}, {signed(hi)}]"


def _refs(results: Mapping[str, Any]) -> list[tuple[str, str]]:
    refs = results.get("references") or {}
    return [(r, str(refs[r])) for r in REF_TITLES if refs.get(r)]


def comparison_header(results: Mapping[str, Any]) -> list[str]:
    """Column titles: per reference, the difference in Harrell's C and its p-value; then vs late
    fusion the difference in IBS and the discordant pairs."""
    head = ["architecture"]
    for ref, arch in _refs(results):
        title = REF_TITLES[ref] + ("" if arch == ref else f" ({arch})")
        head += [f"\u0394C vs {title}", "p"]
    if "late" in dict(_refs(results)):
        head += ["\u0394IBS vs late fusion", "discordant vs late"]
    return head


def comparison_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """One row of strings per architecture, matching :func:`comparison_header`."""
    table = results.get("comparisons") or {}
    refs = _refs(results)
    rows = []
    for name in results.get("architectures") or {}:
        entries = table.get(name) or {}
        row = [str(name)]
        for ref, _ in refs:
            e = entries.get(ref)
            row += ([fmt_delta(e.get("delta_c"), e.get("ci")), fmt_p(e.get("p_value"))] if e
                    else [DASH, DASH])
        if "late" in dict(refs):
            late = entries.get("late") or {}
            ibs = late.get("delta_ibs") or {}
            disc = (late.get("discordance") or {}).get("mean")
            row += [fmt_delta(ibs.get("delta"), ibs.get("ci")),
                    DASH if disc is None else f"{100 * disc:.1f} %"]
        rows.append(row)
    return rows


def format_verdict(results: Mapping[str, Any], width: int = 100) -> str:
    """The verdict as wrapped bullet lines for the terminal ("" when the results have none)."""
    sentences = results.get("verdict") or []
    if not sentences:
        return ""
    lines = ["Verdict:"]
    for s in sentences:
        lines += textwrap.wrap(str(s), width=width, initial_indent="- ", subsequent_indent="  ")
    return "\n".join(lines)


def format_comparisons_table(results: Mapping[str, Any]) -> str:
    """The paired-comparisons table as fixed-width text ("" when there are no comparisons)."""
    if not results.get("comparisons"):
        return ""
    return "\n".join(["Paired comparisons:"] + _text_table(comparison_header(results), comparison_rows(results))
                     + [COMPARISON_NOTE])


def format_summary(results: Mapping[str, Any]) -> str:
    """What the terminal shows after an audit: the answer block and the verdict first, then the main
    table and the paired comparisons."""
    from .answer import format_answer

    parts = (format_answer(results), format_verdict(results), format_main_table(results),
             format_comparisons_table(results))
    return "\n\n".join(p for p in parts if p)


def verdict_html(results: Mapping[str, Any]) -> str:
    """The verdict section (``<section class="verdict">``), or "" when the results have none."""
    sentences = results.get("verdict") or []
    if not sentences:
        return ""
    items = "".join(f"<li>{html.escape(str(s))}</li>\n" for s in sentences)
    return f'<section class="verdict">\n<h2>Verdict</h2>\n<ul>\n{items}</ul>\n</section>'


def comparisons_html(results: Mapping[str, Any]) -> str:
    """The paired-comparisons section, or "" when there are no comparisons."""
    if not results.get("comparisons"):
        return ""
    refs = results.get("references") or {}
    how = refs.get("best_unimodal_selection")
    note = COMPARISON_NOTE + (f" Best unimodal model chosen by {how}." if how else "")
    return ("<h2>Paired comparisons</h2>\n"
            + _html_table(comparison_header(results), comparison_rows(results), "comparisons")
            + f"\n<p class=\"note\">{html.escape(note)}</p>")
