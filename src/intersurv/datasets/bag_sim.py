"""Simulated whole-slide bags for the ``glioma-bags`` scenario, written to a bag directory.

Patient a's WSI is a bag of ``n_a ~ U{min_patches..max_patches}`` patch vectors
of width d (``wsi_dim``), in one or two slides. Every patch is

    x = c_type + eps + s_a  (+ shift * u_a * v  if the patch is informative)

with, per cohort, K = ``tissue_types`` background tissue prototypes ``c_k`` and
one informative prototype ``c_*``, all N(0, I_d), and a unit direction ``v``;
per patch, noise ``eps ~ N(0, I_d)``; per patient, a stain/scanner offset
``s_a ~ N(0, stain_sd^2 I_d)`` shared by all of the patient's patches. A
background patch's type is drawn from the patient's tissue mixture
``softmax(0.5 z_a + l_a)``, ``z_a ~ N(0, I_K)``, whose logits ``l_a`` carry the
patient's WSI latent factors: the grade factor on type 0 and the three nuisance
factors on types 1-3. ``k_a ~ Binomial(n_a, informative_fraction)`` (at least 1)
patches are informative: type ``c_*``, shifted along ``v`` by ``shift * u_a``
(``u_a`` = the WSI's own prognostic factor, in patch-noise sd units).

**Why mean pooling is weak and attention is not.** Along ``v`` the pooled
mean is ``(k_a / n_a) shift u_a + s_a . v + (mixture and noise terms)``: with
5 % informative patches and shift 2 the signal has sd 0.1 against the stain
offset's sd 0.5, so the pooled mean's best linear readout of ``u_a``
correlates only ~0.2 with it; the informative patches alone give ``shift u_a +
s_a . v`` (correlation ~0.97), and they are easy to find (their prototype is
``||c_* - c_k|| ~ sqrt(2d)`` away from every background type).

Coordinates: each slide's patches lie on a grid of 256-px level-0 patches; the
informative patches are the grid cells nearest a random centre (one compact
region). ``informative(a)`` of the BagSet is the true per-patch flag.

Everything is drawn from ``numpy.random.default_rng([seed, 21, a])`` per
patient (and ``[seed, 21]`` for the prototypes), so the bags depend on the
seed and parameters only. The bags are written once to a cache directory
(``$INTERSURV_CACHE/bags/...`` or ``~/.cache/intersurv/bags/...``, named by a
hash of everything that determines them) and reused while its manifest says
they were made by the same generator version and parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..bags import BagDirWriter, BagSet, read_bag_manifest
from ..errors import IntersurvError

#: Bump when the generator changes what it draws (invalidates cached bags).
GENERATOR_VERSION = 1
#: Parameters of the bag generator (and their defaults in ``glioma-bags``).
BAG_PARAMS: dict[str, float] = {
    "wsi_dim": 768,                # patch feature width d
    "min_patches": 200,            # patches per patient, drawn uniformly between these
    "max_patches": 2000,
    "informative_fraction": 0.05,  # expected share of informative patches
    "informative_shift": 2.0,      # shift of an informative patch along v per unit of u_a (noise sd units)
    "stain_sd": 0.5,               # sd of the per-patient offset shared by all its patches
    "tissue_types": 8,             # background tissue prototypes (>= 4: grade and 3 nuisance factors)
}
BAG_INT_PARAMS = ("wsi_dim", "min_patches", "max_patches", "tissue_types")
PATCH_PX = 256
_STREAM = 21


def check_bag_params(p: Mapping[str, float]) -> None:
    """IntersurvError for bag parameters out of range."""
    if p["min_patches"] > p["max_patches"]:
        raise IntersurvError(f"min_patches ({p['min_patches']}) must not exceed max_patches ({p['max_patches']})")
    if not 0.0 < p["informative_fraction"] < 1.0:
        raise IntersurvError(f"parameter 'informative_fraction' must be in (0, 1), got {p['informative_fraction']}")
    if p["tissue_types"] < 4:
        raise IntersurvError(f"parameter 'tissue_types' must be at least 4, got {p['tissue_types']}")
    if p["stain_sd"] < 0:
        raise IntersurvError(f"parameter 'stain_sd' must be >= 0, got {p['stain_sd']}")


def default_cache_root() -> Path:
    """``$INTERSURV_CACHE`` or ``~/.cache/intersurv``."""
    return Path(os.environ.get("INTERSURV_CACHE") or Path.home() / ".cache" / "intersurv")


def _grid(n: int, rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Level-0 coords of n grid patches and the mask of the k cells nearest a random centre."""
    side = int(np.ceil(np.sqrt(n)))
    cells = np.stack([np.arange(n) % side, np.arange(n) // side], axis=1)
    centre = cells[rng.integers(n)]
    near = np.argsort(((cells - centre) ** 2).sum(axis=1), kind="stable")[:k]
    mask = np.zeros(n, dtype=bool)
    mask[near] = True
    return (cells * PATCH_PX).astype(np.float64), mask


def draw_bags(latent: np.ndarray, ids: Sequence[str], p: Mapping[str, float], seed: int,
              bag_dir: str | Path | None = None) -> BagSet:
    """The bags of ``glioma-bags`` for the WSI latent factors ``latent`` (N, 5): grade, own, 3 nuisance.

    ``bag_dir``: where to write them (default: the cache, see the module
    docstring); an existing bag directory made by the same generator and
    parameters is reused as is.
    """
    latent = np.asarray(latent, dtype=np.float64)
    keys = {k: p[k] for k in BAG_PARAMS}
    generator = {"name": "glioma-bags", "version": GENERATOR_VERSION, "seed": int(seed), "params": keys,
                 "latent": hashlib.sha256(np.ascontiguousarray(latent).tobytes()).hexdigest()[:16]}
    if bag_dir is None:
        digest = hashlib.sha256(json.dumps(generator, sort_keys=True).encode()).hexdigest()[:16]
        bag_dir = default_cache_root() / "bags" / f"glioma-bags-n{len(ids)}-seed{seed}-{digest}"
    bag_dir = Path(bag_dir)
    if (bag_dir / "bags.json").exists():
        meta = read_bag_manifest(bag_dir)
        if meta.get("generator") == generator and meta.get("patients") == [str(i) for i in ids]:
            return BagSet.open_dir(bag_dir)

    d, n_types = int(p["wsi_dim"]), int(p["tissue_types"])
    cohort_rng = np.random.default_rng([int(seed), _STREAM])
    protos = cohort_rng.standard_normal((n_types + 1, d)).astype(np.float32)  # last row: informative
    v = cohort_rng.standard_normal(d)
    v = (v / np.linalg.norm(v)).astype(np.float32)

    rngs = [np.random.default_rng([int(seed), _STREAM, a]) for a in range(len(ids))]
    sizes = np.array([r.integers(int(p["min_patches"]), int(p["max_patches"]) + 1) for r in rngs])
    slides_of = [1 + int(r.uniform() < 0.3 and n >= 2) for r, n in zip(rngs, sizes)]
    slide_names = [f"{pid}-DX{s + 1}" for pid, k in zip(ids, slides_of) for s in range(k)]
    first_slide = np.concatenate([[0], np.cumsum(slides_of)[:-1]])
    with BagDirWriter(bag_dir, sizes, d, coords=True, informative=True, slide_names=slide_names,
                      patients=[str(i) for i in ids], generator=generator) as writer:
        for a, rng in enumerate(rngs):
            n = int(sizes[a])
            k = max(1, int(rng.binomial(n, p["informative_fraction"])))
            cut = n // 2 if slides_of[a] == 2 else n  # slide 1 gets the first `cut` patches
            parts = [(0, cut), (cut, n)] if slides_of[a] == 2 else [(0, n)]
            coords = np.zeros((n, 2))
            flag = np.zeros(n, dtype=bool)
            slide = np.zeros(n, dtype=np.int32)
            k_left = k
            for s, (lo, hi) in enumerate(parts):  # the informative region lies in the first slide(s) with room
                take = min(k_left, hi - lo)
                coords[lo:hi], flag[lo:hi] = _grid(hi - lo, rng, take)
                slide[lo:hi] = first_slide[a] + s
                k_left -= take
            logits = 0.5 * rng.standard_normal(n_types)
            logits[:4] += latent[a, [0, 2, 3, 4]]
            mix = np.exp(logits - logits.max())
            types = rng.choice(n_types, size=n, p=mix / mix.sum())
            types[flag] = n_types
            x = rng.standard_normal((n, d), dtype=np.float32)
            x += protos[types]
            x += (p["stain_sd"] * rng.standard_normal(d)).astype(np.float32)
            x[flag] += np.float32(p["informative_shift"] * latent[a, 1]) * v
            writer.put(a, x, coords=coords, informative=flag, slide_index=slide)
        return writer.close()


def bag_truth_note() -> str:
    """Why the audit does not explain the true log-risk of ``glioma-bags`` per unit."""
    return ("the true log-risk is a function of latent factors (the WSI's grade and own factors, which shape "
            "its tissue mixture and its informative patches, and the RNA readouts), not of the arrays a model "
            "sees, so it is not explained per unit like a model; the whole-cohort InterSHAP explains it over "
            "those latent factors (the WSI player holds the two WSI factors)")


def latent_summary(ids: Sequence[str], latent: np.ndarray, h: np.ndarray) -> dict[str, Any]:
    """Per-patient latent truth, keyed by position in ``ids`` (JSON-ready)."""
    return {"ids": [str(i) for i in ids], "wsi_grade": latent[:, 0].tolist(), "wsi_own": latent[:, 1].tolist(),
            "log_risk": np.asarray(h, dtype=np.float64).tolist()}
