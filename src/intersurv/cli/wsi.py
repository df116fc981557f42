"""``intersurv wsi extract SLIDES... --out DIR`` and ``intersurv wsi pool H5_DIR --clinical C --out COHORT_DIR``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("wsi", help="whole-slide images: patch features and the wsi modality")
    wsub = p.add_subparsers(dest="wsi_command", metavar="ACTION", required=True)

    q = wsub.add_parser(
        "extract", help="slides -> one .h5 patch-feature bag per slide (TRIDENT/CLAM layout)",
        description="Tissue mask (Otsu on a thumbnail), tiling at --patch-size px and --target-mpp "
        "microns/px, features from a backbone with weights from a local file. Resumable: slides whose "
        ".h5 exists are skipped. Unreadable slides are reported and skipped; the exit status is 1 if any "
        "failed. A summary is written to OUT/extract_summary.json.")
    q.add_argument("slides", nargs="+", help="slide files, or directories of them")
    q.add_argument("--out", required=True, help="directory for the .h5 bags")
    q.add_argument("--backbone", default="resnet50",
                   help="resnet50 (built in, 2048-d), torchvision:NAME or timm:NAME (if installed)")
    q.add_argument("--weights", help="backbone weights: .safetensors or a torch state dict file")
    q.add_argument("--random-weights", action="store_true", help="random weights (for tests only)")
    q.add_argument("--patch-size", type=int, default=224, help="patch side in px at --target-mpp (default: 224)")
    q.add_argument("--target-mpp", type=float, default=0.5,
                   help="target resolution in microns per pixel (default: 0.5, i.e. 20x)")
    q.add_argument("--mpp", type=float, help="level-0 microns per pixel for slides that do not state it")
    q.add_argument("--min-tissue", type=float, default=0.5,
                   help="tissue fraction a tile needs to be kept (default: 0.5)")
    q.add_argument("--max-patches", type=int,
                   help="at most this many patches per slide, a seeded random subset (default: all)")
    q.add_argument("--seed", type=int, default=0, help="seed of the patch subset and of random weights")
    q.add_argument("--batch-size", type=int, default=32, help="patches per forward pass (default: 32)")
    q.add_argument("--device", default="auto", help="torch device (default: cuda if available, else cpu)")
    q.set_defaults(func=_extract)

    q = wsub.add_parser(
        "pool", help="patch-feature bags -> patient-level COHORT_DIR/wsi.parquet (mean pooling)",
        description="Mean-pools the patches of all slides of each patient (patch-weighted). Slides map to "
        "patients by TCGA barcode (first 12 characters) or patient_id, or by --mapping.")
    q.add_argument("h5_dir", help="directory of .h5 (or .pt) bags from this tool, TRIDENT or CLAM")
    q.add_argument("--clinical", required=True, help="clinical table with patient_id (copied into --out)")
    q.add_argument("--out", required=True, help="cohort directory to write wsi.parquet into")
    q.add_argument("--mapping", help="CSV with columns slide (file stem) and patient_id")
    q.add_argument("--drop-unmatched", action="store_true",
                   help="drop slides without a patient instead of failing")
    q.set_defaults(func=_pool)


def _check_positive(name: str, value: float | None) -> None:
    from ..errors import IntersurvError

    if value is not None and not value > 0:
        raise IntersurvError(f"{name} must be > 0, not {value}")


def _extract(args: argparse.Namespace) -> int:
    import torch

    from ..errors import IntersurvError
    from ..wsi import ExtractConfig, build_encoder, extract_slides

    for name in ("patch_size", "target_mpp", "mpp", "max_patches", "batch_size"):
        _check_positive("--" + name.replace("_", "-"), getattr(args, name))
    if not 0.0 <= args.min_tissue <= 1.0:
        raise IntersurvError(f"--min-tissue must be in [0, 1], not {args.min_tissue}")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    encoder = build_encoder(args.backbone, args.weights, random_weights=args.random_weights, seed=args.seed,
                            device=device)
    cfg = ExtractConfig(patch_size=args.patch_size, target_mpp=args.target_mpp, mpp=args.mpp,
                        min_tissue=args.min_tissue, max_patches=args.max_patches, seed=args.seed,
                        batch_size=args.batch_size)
    summary = extract_slides(args.slides, args.out, encoder, cfg, device=device, progress=not args.quiet)
    print("\n".join(summary.lines()))
    return 1 if summary.failed else 0


def _pool(args: argparse.Namespace) -> int:
    from ..wsi import pool_into_cohort

    path, n, d = pool_into_cohort(args.h5_dir, args.clinical, args.out, args.mapping,
                                  drop_unmatched=args.drop_unmatched)
    print(f"wrote {n} patient(s) x {d} feature(s) to {path}")
    return 0
