"""The compact answer block that leads the terminal output and ``report.html``.

Reads ``results["answer"]`` (:func:`intersurv.audit.verdict.answer_block`): the
best model, whether it is better than late fusion, the best unimodal model and
the clinical reference (yes / no with the difference in Harrell's C and its
95 % interval), and whether the cohort carries cross-modal interaction (p,
estimate with CI, the smallest interaction the test detects). Results written
before the block existed have none: then both renderings are empty. All text
from the data is escaped in the HTML.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

from .comparisons import REF_TITLES, fmt_delta
from .tables import DASH, _html_table, _text_table, fmt, fmt_ci, fmt_p, fmt_pct

ANSWER_NOTE = ("yes = the 95 % interval of the difference in Harrell's C lies above 0; the verdict below says "
               "what the numbers cannot say, the paired comparisons give every model.")


def _against_text(entry: Mapping[str, Any]) -> str:
    if entry.get("verdict") == "is the reference":
        return "it is this reference"
    if entry.get("verdict") is None:
        return "no paired comparison"
    answer = "yes" if entry.get("better") else "no"
    delta = fmt_delta(entry.get("delta_c"), entry.get("ci"))
    if fmt_ci(entry.get("ci")) == DASH:
        return f"{answer}: \u0394C {delta} (no interval: a single unit)"
    return f"{answer}: \u0394C {delta}, p = {fmt_p(entry.get('p_value'))} ({entry['verdict']})"


def interaction_text(test: Mapping[str, Any] | None) -> str:
    """The cohort interaction test in a phrase ("detected: p = ...; InterSHAP estimate ...; minimum detectable ...")."""
    if not test:
        return "not tested in this run"
    if test.get("detected") is None:
        return f"not tested: {test.get('skipped') or 'too few events'}"
    head = "detected" if test["detected"] else "not detected"
    detectable = test.get("minimum_detectable")
    return (f"{head}: p = {fmt_p(test.get('p_value'))}; InterSHAP estimate {fmt_pct(test.get('estimate'))} "
            f"{fmt_ci(test.get('ci'), pct=True)}; minimum detectable (80 % power) "
            + (fmt_pct(detectable) if detectable is not None else "above every planted strength"))


def answer_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """(question, answer) rows of the block ([] when the results have no ``answer``)."""
    block = results.get("answer")
    if not isinstance(block, Mapping):
        return []
    best = block.get("best_model")
    if not best:
        return [["best model", "none (no finished architecture)"]]
    sd = f" \u00b1 {fmt(best['sd'])}" if best.get("sd") is not None else ""
    rows = [["best model", f"{best['arch']} (mean Harrell C {fmt(best.get('c_index'))}{sd} across "
                           f"{best.get('across') or 'units'}; highest on the test folds)"]]
    against = block.get("against") or {}
    for ref, title in REF_TITLES.items():
        entry = against.get(ref)
        if entry is None:
            if ref == "clinical":
                rows.append(["better than clinical?", "no clinical reference in this run"])
            continue
        name = title if entry.get("ref_arch") == ref else f"{title} ({entry.get('ref_arch')})"
        rows.append([f"better than {name}?", _against_text(entry)])
    rows.append(["interaction in the cohort?", interaction_text(block.get("interaction"))])
    return rows


def format_answer(results: Mapping[str, Any]) -> str:
    """The block as fixed-width text for the terminal ("" when the results have none)."""
    rows = answer_rows(results)
    if not rows:
        return ""
    return "\n".join(["Answer:"] + _text_table(["question", "answer"], rows)[2:] + [ANSWER_NOTE])


def answer_html(results: Mapping[str, Any]) -> str:
    """The block as ``<section class="answer">`` with a two-column table ("" when the results have none)."""
    rows = answer_rows(results)
    if not rows:
        return ""
    return (f'<section class="answer">\n<h2>Answer</h2>\n{_html_table(None, rows, "answer-table")}\n'
            f'<p class="note">{html.escape(ANSWER_NOTE)}</p>\n</section>')
