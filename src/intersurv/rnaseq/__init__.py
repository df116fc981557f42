"""RNA-seq import: expression matrices or GDC STAR gene-count files -> the ``rna`` modality.

* :func:`prepare_rnaseq` - the whole import (``intersurv rnaseq prepare``);
* :mod:`.readers` - matrix and STAR-count readers;
* :mod:`.patients` - TCGA barcodes, sample -> patient mapping, one sample per patient;
* :mod:`.transform` - log2(x + 1), the non-zero filter, top-k genes by variance or MAD.
"""

from __future__ import annotations

from .prepare import PreparedRna, prepare_rnaseq

__all__ = ["PreparedRna", "prepare_rnaseq"]
