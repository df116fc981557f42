"""Statistics of per-patient interaction: is it prognostic, beyond the model's own risk?"""

from .prognostic import prognostic_analysis

__all__ = ["prognostic_analysis"]
