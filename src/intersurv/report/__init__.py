"""The audit report: the verdict, the main and comparison tables (terminal and HTML), PNG figures,
one self-contained HTML file."""

from .build import build_report, load_patients, load_results
from .comparisons import format_summary
from .tables import format_main_table

__all__ = ["build_report", "format_main_table", "format_summary", "load_patients", "load_results"]
