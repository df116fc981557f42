"""``intersurv groups tcga-genes COHORT``: write a feature-group file for ``--groups``.

One group per gene, holding the gene's columns in every modality of a TCGA
cohort (``<GENE>_rnaseq``, ``<GENE>_cnv``, ``<GENE>_mut`` become ``rna:GENE``,
``cnv:GENE``, ``mut:GENE``); the source is the cohort's own column names, so
nothing is downloaded. ``--genes`` names the genes; without it, every gene
measured in at least two modalities, when they fit in the 12 players of an
exact explanation. The columns in no group form ``<modality>:rest``.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("groups", help="write a feature-group file (--groups) for a cohort",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=["tcga-genes"], help="tcga-genes: one group per gene across modalities")
    p.add_argument("cohort", metavar="COHORT", help="built-in cohort name or cohort directory")
    p.add_argument("--genes", help="comma-separated gene symbols (default: genes in two or more modalities)")
    p.add_argument("--out", required=True, help="the TOML file to write ([groups] table)")
    p.set_defaults(func=_groups)


def _groups(args: argparse.Namespace) -> int:
    from ..datasets import load_cohort
    from ..errors import IntersurvError
    from ..interactions.coalitions import MAX_MODALITIES
    from ..interactions.groups import TCGA_SOURCE, resolve_players, tcga_gene_groups
    from ..io.atomic import write_text_atomic

    cohort = load_cohort(args.cohort, allow_missing=True)
    names = cohort.feature_names
    if args.genes:
        genes = [g.strip() for g in args.genes.split(",") if g.strip()]
    else:
        counts: dict[str, int] = {}
        for cols in names.values():
            for c in set(cols):
                counts[c] = counts.get(c, 0) + 1
        genes = sorted(g for g, n in counts.items() if n >= 2)
        if not genes:
            raise IntersurvError(f"{args.cohort}: no gene is a column of two modalities; name them with --genes")
        if len(genes) + len(names) > MAX_MODALITIES:
            raise IntersurvError(f"{args.cohort}: {len(genes)} genes are columns of two or more modalities "
                                 f"({', '.join(genes)}); choose at most {MAX_MODALITIES - len(names)} with --genes")
    groups = tcga_gene_groups(genes, names)
    players = resolve_players(groups, names, cohort.widths(), source=args.out)
    lines = [f"# intersurv groups tcga-genes {args.cohort}", f"# source: {TCGA_SOURCE}", "[groups]"]
    lines += [f"{g} = [{', '.join(repr(c).replace(chr(39), chr(34)) for c in cols)}]" for g, cols in groups.items()]
    write_text_atomic(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}: {len(players)} players ({', '.join(p.name for p in players)})")
    return 0
