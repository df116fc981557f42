"""Feature groups: the files that name them and their resolution into players.

A *grouping* maps group names to columns written ``<modality>:<column>`` (the
column's feature name in the cohort; a column index where the arrays have no
names). It comes from

* a TOML file with a ``[groups]`` table: ``name = ["rna:TP53", "cnv:EGFR"]``
  or, by modality, ``name = {rna = ["TP53"], cnv = ["EGFR"]}``;
* a GMT-like text file (``.gmt``): one group per line, tab-separated
  ``name<TAB>description<TAB>modality:column<TAB>...``;
* a built-in name, ``builtin:modality`` (one player per modality: the default)
  or ``builtin:tcga-genes=EGFR,CDKN2A`` (:func:`tcga_gene_groups`).

:func:`read_groups` reads any of them into a plain dict (what
:class:`~.settings.ExplainSettings` stores); :func:`resolve_players` checks
one against a cohort's feature names and returns the players (each group,
then ``<modality>:rest`` for the columns in no group; at most
:data:`~.coalitions.MAX_MODALITIES`). Every problem is a one-line
:class:`IntersurvError` naming the file, the group and the column.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import IntersurvError
from .coalitions import MAX_MODALITIES
from .players import REST, Player, modality_players, players_from_columns

BUILTIN = "builtin:"
#: Group names: letters, digits, ``_ . - +`` (no ``:``, which separates a modality from its column).
NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")
#: TCGA column suffix -> modality of :mod:`intersurv.io.tcga_table` (rnaseq -> rna, cnv, mut).
TCGA_SOURCE = ("columns of the TCGA tables of the PORPOISE/MCAT/SurvPath codebases, whose feature names are gene "
               "symbols (<GENE>_rnaseq, <GENE>_cnv, <GENE>_mut); a gene's group is its columns in every modality")

Grouping = dict[str, list[str]]


def check_grouping(groups: Any, source: str) -> Grouping:
    """``groups`` as ``{name: ["modality:column", ...]}``, its shape checked (not yet against a cohort)."""
    if not isinstance(groups, Mapping) or not groups:
        raise IntersurvError(f"{source}: groups must be a non-empty table of group name -> columns")
    out: Grouping = {}
    for name, cols in groups.items():
        if not isinstance(name, str) or not NAME.match(name) or name == REST:
            raise IntersurvError(f"{source}: group name {name!r}: use letters, digits and _ . - + "
                                 f"(not {REST!r}, no ':')")
        if isinstance(cols, Mapping):  # by modality: {rna = ["TP53"], ...}
            cols = [f"{m}:{c}" for m, names in cols.items()
                    for c in (names if isinstance(names, list) else [names])]
        if not isinstance(cols, list) or not cols:
            raise IntersurvError(f"{source}: group {name!r} must list at least one column")
        for c in cols:
            if not isinstance(c, str) or ":" not in c or not all(c.split(":", 1)):
                raise IntersurvError(f"{source}: group {name!r}: column {c!r} is not written modality:column")
        out[name] = [str(c) for c in cols]
    return out


def _read_gmt(path: Path) -> Grouping:
    groups: Grouping = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) < 3:
            raise IntersurvError(f"{path}:{number}: expected name, description and columns separated by tabs")
        if fields[0] in groups:
            raise IntersurvError(f"{path}:{number}: group {fields[0]!r} defined twice")
        groups[fields[0]] = [f for f in fields[2:] if f]
    return groups


def tcga_gene_groups(genes: Sequence[str], feature_names: Mapping[str, Sequence[str]]) -> Grouping:
    """One group per gene: the gene's column in every modality that has it (TCGA tables name the features
    of ``rna``, ``cnv`` and ``mut`` by gene symbol; see :data:`TCGA_SOURCE`)."""
    groups: Grouping = {}
    for gene in genes:
        cols = [f"{m}:{gene}" for m, names in feature_names.items() if gene in set(names)]
        if not cols:
            raise IntersurvError(f"builtin:tcga-genes: gene {gene!r} is a column of no modality")
        groups[gene] = cols
    return groups


def read_groups(spec: str, feature_names: Mapping[str, Sequence[str]] | None = None) -> Grouping | None:
    """The grouping named by ``spec``: a TOML or GMT file, or ``builtin:NAME`` (None for
    ``builtin:modality``, today's players). ``feature_names`` is needed by ``builtin:tcga-genes``."""
    if spec.startswith(BUILTIN):
        name, _, arg = spec[len(BUILTIN):].partition("=")
        if name == "modality" and not arg:
            return None
        if name == "tcga-genes":
            genes = [g.strip() for g in arg.split(",") if g.strip()]
            if not genes:
                raise IntersurvError(f"{spec}: name the genes, e.g. builtin:tcga-genes=EGFR,CDKN2A,IDH1,TP53")
            if feature_names is None:
                raise IntersurvError(f"{spec}: needs the cohort's feature names")
            return tcga_gene_groups(genes, feature_names)
        raise IntersurvError(f"{spec}: unknown built-in grouping (builtin:modality, builtin:tcga-genes=GENE,...)")
    path = Path(spec)
    if not path.is_file():
        raise IntersurvError(f"{path}: groups file not found")
    if path.suffix.lower() == ".gmt":
        return check_grouping(_read_gmt(path), str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise IntersurvError(f"{path}: not a TOML file with a [groups] table, nor a .gmt file ({exc})") from None
    if set(data) != {"groups"}:
        raise IntersurvError(f"{path}: expected exactly one table, [groups] (found {', '.join(data) or 'none'})")
    return check_grouping(data["groups"], str(path))


def resolve_players(groups: Grouping | None, feature_names: Mapping[str, Sequence[str]],
                    widths: Mapping[str, int], *, source: str = "groups") -> list[Player]:
    """The players of ``groups`` on arrays of ``widths`` whose columns are named ``feature_names``
    (a modality without names has its columns named ``0, 1, ...``); None gives one player per modality."""
    if groups is None:
        return modality_players(widths)
    groups = check_grouping(groups, source)
    index = {m: {str(c): i for i, c in enumerate(feature_names.get(m) or range(d))} for m, d in widths.items()}
    columns: dict[str, dict[str, list[int]]] = {}
    for name, cols in groups.items():
        mine: dict[str, list[int]] = {}
        for c in cols:
            m, col = c.split(":", 1)
            if m not in index:
                raise IntersurvError(f"{source}: group {name!r}: unknown modality {m!r} in {c!r} "
                                     f"(modalities: {', '.join(widths)})")
            if col not in index[m]:
                raise IntersurvError(f"{source}: group {name!r}: modality {m!r} has no column {col!r}")
            mine.setdefault(m, []).append(index[m][col])
        columns[name] = mine
    players = players_from_columns({k: {m: np.array(v) for m, v in c.items()} for k, c in columns.items()},
                                   widths, source=source, names={m: list(index[m]) for m in widths})
    if len(players) > MAX_MODALITIES:
        raise IntersurvError(f"{source}: {len(players)} players ({len(groups)} groups + "
                             f"{len(players) - len(groups)} '<modality>:{REST}' players); at most {MAX_MODALITIES} "
                             "are explained exactly: merge groups, or put every column of a modality into groups "
                             "so that it has no ':rest' player")
    if len(players) < 2:
        raise IntersurvError(f"{source}: the grouping gives {len(players)} player; interaction needs at least 2")
    return players
