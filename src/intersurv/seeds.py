"""Derived seeds: every seed intersurv makes from another comes from :func:`derive_seed`.

A user gives seeds (one per unit of an experiment, ``--seed`` of a command);
everything random inside a unit that is not its split or its training (the
background draws of a masker, the outcomes and refits of the additive null,
the bootstrap and permutations of the results) gets its own stream, derived
with :class:`numpy.random.SeedSequence` from a purpose and integer keys::

    derive_seed(purpose, *keys) = SeedSequence([crc32(purpose), *keys]).generate_state(1)[0]

The purpose keeps the streams of different uses apart even for equal keys,
and SeedSequence's hashing keeps nearby keys (seed 0 and 1, refit 1 and 2)
from giving correlated streams, which ad-hoc arithmetic on seeds does not
guarantee. The result is an integer in [0, 2^32), usable by numpy and torch.
"""

from __future__ import annotations

import zlib

import numpy as np

#: The purposes of derived seeds.
EXPLAIN = "explain"                 # keys: unit seed, fold
NULL_OUTCOMES = "additive-null"     # keys: unit seed, fold
NULL_REFIT = "additive-null-refit"  # keys: unit seed, fold, refit number
RESULTS = "results"                 # keys: the experiment's seeds
ADDITIVITY_TEST = "additivity-test"  # keys: the test's seed (an audit's: derived from its seeds)
PLANTED = "planted-interaction"     # keys: the planted-power seed
HELDOUT_TEST = "heldout-interaction-test"  # keys: unit seed, fold
BAG_PATCHES = "bag-patches"         # keys: the fit's seed (patch sample of the PCA, patches per step)


def derive_seed(purpose: str, *keys: int) -> int:
    """The seed for ``purpose`` derived from the integers ``keys`` (each >= 0); see the module docstring."""
    entropy = [zlib.crc32(purpose.encode()), *(int(k) for k in keys)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])
