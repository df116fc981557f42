"""Expression transforms: log2(x + 1), the non-zero gene filter, top-k genes by spread.

All are pure functions of a (samples, genes) matrix and use no outcome, so they
may run on the whole cohort; standardisation, which does depend on the data it
is fitted on, belongs to the training fold and is not done here.
"""

from __future__ import annotations

import numpy as np

from ..errors import IntersurvError

RANKINGS = ("variance", "mad")


def log2p1(x: np.ndarray) -> np.ndarray:
    """log2(x + 1), element-wise; a negative value is an IntersurvError (already log-scaled data?)."""
    if (x < 0).any():
        raise IntersurvError(f"{int((x < 0).sum())} negative expression value(s) (min {x.min():g}): log2(x+1) "
                             "needs x >= 0; use --no-log2 if the values are already on a log scale")
    return np.log1p(x) / np.log(2.0)


def nonzero_genes(x: np.ndarray, min_fraction: float) -> np.ndarray:
    """Boolean mask of genes non-zero in *more than* ``min_fraction`` of the samples (rows)."""
    if not 0.0 <= min_fraction < 1.0:
        raise IntersurvError(f"--min-nonzero must be in [0, 1), not {min_fraction}")
    return (x != 0).mean(axis=0) > min_fraction


def spread(x: np.ndarray, ranking: str) -> np.ndarray:
    """Per-gene spread over samples: sample variance (ddof 1) or MAD = median |x - median(x)| (unscaled)."""
    if ranking == "variance":
        return x.var(axis=0, ddof=1) if len(x) > 1 else np.zeros(x.shape[1])
    if ranking == "mad":
        return np.median(np.abs(x - np.median(x, axis=0)), axis=0)
    raise IntersurvError(f"ranking must be one of {', '.join(RANKINGS)}, not {ranking!r}")


def top_k(x: np.ndarray, k: int, ranking: str) -> np.ndarray:
    """Indices (ascending, i.e. in the original gene order) of the ``k`` genes with the largest spread.

    Ties are broken by gene order (the earlier gene wins).
    """
    if k < 1:
        raise IntersurvError(f"--top-k must be >= 1, not {k}")
    order = np.argsort(-spread(x, ranking), kind="stable")
    return np.sort(order[:k])
