"""Explaining an attention-MIL model at the modality level: the bag as one player.

An attention-MIL model (:class:`~intersurv.training.mil_fit.MILFittedModel`) is
``h(x) = g(e_1(B_1), ..., x_tab)``: an encoder ``e_m`` per bag modality (bag of
patches -> embedding in R^D) followed by a fusion head ``g``. The interaction
engine explains the head :class:`EncodedHead` as a function of
``{bag modality: (N, D) embeddings, other modality: raw (N, d_m) array}``, with
the reference set = the encoded bags (and raw arrays) of the model's training
patients (:func:`encoded_arrays`). "Bag modality absent" therefore means:

* ``mean`` masker: the embedding replaced by the mean embedding of the
  reference patients' bags;
* ``marginal``: by K reference patients' embeddings (the value averaged over them);
* ``shuffle``: by one reference patient's embedding;
* ``zero``: by the zero embedding.

Nothing changes in the engine: the player is a block of D columns, like a
tabular modality, and a tabular modality's numbers are those of a model on
the same arrays. Late fusion stays exactly additive because its head is a sum
of per-modality terms, one of them a function of the embedding alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..cohort import Cohort


@dataclass(frozen=True)
class EncodedHead:
    """The head of an attention-MIL model as a model callable over ``modalities`` (module docstring);
    modalities the model does not use are read and ignored (zero share, like a unimodal model)."""

    model: Any  # a training.mil_fit.MILFittedModel (not imported: interactions does not depend on training)
    modalities: list[str]

    @property
    def baseline(self) -> Any:
        return self.model.baseline

    def __call__(self, X: dict[str, np.ndarray]) -> np.ndarray:
        return self.model.head_log_risk(X)


def encoded_arrays(model: "MILFittedModel", cohort: Cohort) -> dict[str, np.ndarray]:
    """Every modality of ``cohort``, the model's bag modalities as the ``(N, D)`` embeddings of the whole
    bags, the others as their arrays."""
    embeddings, _ = model.embed({m: cohort.bags[m] for m in model.bag_modalities})
    return {m: embeddings.get(m, x) for m, x in cohort.modalities.items()}


def encoded_cohort(model: "MILFittedModel", cohort: Cohort) -> Cohort:
    """The patients of ``cohort`` (ids, times, events) with :func:`encoded_arrays` as their modalities."""
    return Cohort(ids=cohort.ids, time=cohort.time, event=cohort.event, modalities=encoded_arrays(model, cohort),
                  time_unit=cohort.time_unit, name=cohort.name)


def encoded_game(model: "MILFittedModel", test: Cohort, train: Cohort, modalities: list[str]
                 ) -> tuple[EncodedHead, Cohort, dict[str, np.ndarray]]:
    """What :func:`intersurv.explain` takes to explain ``model`` on the patients ``test`` over ``modalities``:
    its head, the encoded test patients and, as reference, the encoded patients ``train`` (its training
    patients)."""
    return EncodedHead(model, modalities), encoded_cohort(model, test), encoded_arrays(model, train)
