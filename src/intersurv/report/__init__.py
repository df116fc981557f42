"""The audit report: the main table (terminal and HTML), PNG figures, one self-contained HTML file."""

from .build import build_report, load_patients, load_results
from .tables import format_main_table

__all__ = ["build_report", "format_main_table", "load_patients", "load_results"]
