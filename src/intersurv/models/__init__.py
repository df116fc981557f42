"""Fusion architectures for multimodal survival: name -> torch module -> (N,) log-risk.

See :mod:`intersurv.models.registry` for the names and hyperparameters, and
each architecture's module for its math.
"""

from .registry import (ARCHITECTURES, CLINICAL_MODALITY, POOLED_SUFFIX, Architecture, base_architecture,
                       build_model, clinical_reads_covariates, count_parameters, expand_architectures, is_linear,
                       is_pooled, model_cohort, model_modalities, resolve_hyper)

__all__ = ["ARCHITECTURES", "CLINICAL_MODALITY", "Architecture", "build_model", "count_parameters", "expand_architectures",
           "clinical_reads_covariates", "is_linear", "is_pooled", "base_architecture", "POOLED_SUFFIX", "model_cohort",
           "model_modalities", "resolve_hyper"]
