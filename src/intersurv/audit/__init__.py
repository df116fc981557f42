"""The audit: train architectures, evaluate, explain, analyse, report (``intersurv audit``)."""

from .config import audit_config
from .run import run_audit

__all__ = ["audit_config", "run_audit"]
