"""Bags benchmark: simulate ``glioma-bags``, then read and pool it from .h5 files and from a bag directory.

Each phase runs in its own Python process, so its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which counts every page the
process ever had resident, file pages of memory maps included) is that
phase's alone; ``base MiB`` is the same process's RSS after its imports,
before the phase's work. Phases, on one working directory:

* ``simulate``: ``intersurv simulate --scenario glioma-bags`` as the CLI does
  it (cohort, ground truth, bags written into ``<work>/sim/wsi.bags``,
  cohort directory written);
* ``write_h5``: the same bags rewritten as one TRIDENT-layout ``.h5`` file per
  patient (setup for the next phase; timed for information);
* ``read_h5``: ``read_cohort_dir`` of a cohort whose ``wsi`` is that ``.h5``
  directory (opening every file, the pooled mean in one streaming pass), then
  a full pass reading every bag (what one training epoch reads);
* ``read_bag_dir``: the same on the simulated cohort directory (its pooled
  means were stored with the bags), then a full pass.

``run_phase(name, *args)`` runs a phase (a function of :data:`PHASES`) in a
child process and returns its figures, so further phases (an audit of the
pooled cohort beside a MIL audit) can be added to :data:`PHASES` and timed the
same way.

Usage: ``python benchmarks/bags.py [--n 575] [--min-patches 200] [--max-patches
2000] [--width 768] [--work DIR] [--keep]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def phase_simulate(work: str, n: str, lo: str, hi: str, width: str) -> dict[str, Any]:
    from intersurv.cli import main

    out = Path(work) / "sim"
    argv = ["simulate", "--scenario", "glioma-bags", "--n", n, "--out", str(out), "--force",
            "--param", f"min_patches={lo}", "--param", f"max_patches={hi}", "--param", f"wsi_dim={width}"]
    start = time.perf_counter()
    main(argv)
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in (out / "wsi.bags").iterdir())
    return {"seconds": seconds, "note": f"bag directory {size / 2**30:.2f} GiB"}


def phase_write_h5(work: str) -> dict[str, Any]:
    from intersurv.io.cohort_dir import read_cohort_dir
    from intersurv.wsi.bags import write_h5_bag

    src = read_cohort_dir(Path(work) / "sim")
    dst = Path(work) / "h5"
    shutil.rmtree(dst, ignore_errors=True)
    (dst / "wsi_h5").mkdir(parents=True)
    for name in ("clinical.csv", "rna.parquet"):
        shutil.copy(Path(work) / "sim" / name, dst / name)
    (dst / "cohort.toml").write_text('[modalities.rna]\nfile = "rna.parquet"\nkind = "rna"\n\n'
                                     '[modalities.wsi]\nkind = "bags"\ndir = "wsi_h5"\n')
    bags = src.bags["wsi"]
    start = time.perf_counter()
    for a, pid in enumerate(src.ids):
        write_h5_bag(dst / "wsi_h5" / f"{pid}.h5", bags.bag(a), bags.coords(a), {}, {})
    return {"seconds": time.perf_counter() - start, "note": f"{len(src.ids)} files"}


def _read_and_pass(cohort_dir: Path) -> dict[str, Any]:
    from intersurv.io.cohort_dir import read_cohort_dir

    start = time.perf_counter()
    cohort = read_cohort_dir(cohort_dir)
    opened = time.perf_counter() - start
    bags = cohort.bags["wsi"]
    total = 0
    start = time.perf_counter()
    for a in range(len(bags)):
        total += len(bags.bag(a))
    passed = time.perf_counter() - start
    sizes = bags.sizes()
    return {"seconds": opened + passed,
            "note": (f"read + pool {opened:.1f} s, full pass {passed:.1f} s ({total:,} patches, "
                     f"{sizes.min()}-{sizes.max()} per patient, {total * bags.width * 4 / 2**30:.2f} GiB float32)")}


def phase_read_h5(work: str) -> dict[str, Any]:
    return _read_and_pass(Path(work) / "h5")


def phase_read_bag_dir(work: str) -> dict[str, Any]:
    return _read_and_pass(Path(work) / "sim")


#: The phases a child process can run: name -> function of string arguments returning
#: ``{"seconds": float, "note": str}``.
PHASES: dict[str, Callable[..., dict[str, Any]]] = {
    "simulate": phase_simulate, "write_h5": phase_write_h5, "read_h5": phase_read_h5,
    "read_bag_dir": phase_read_bag_dir,
}


def run_phase(name: str, *args: str) -> dict[str, Any]:
    """Run ``PHASES[name](*args)`` in a fresh process; its figures plus ``base_mib`` and ``peak_mib``."""
    proc = subprocess.run([sys.executable, __file__, "--phase", name, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"phase {name} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child(name: str, args: list[str]) -> None:
    import intersurv  # noqa: F401  (imports before the base figure)
    import intersurv.io.cohort_dir  # noqa: F401

    base = _rss_mib()
    result = PHASES[name](*args)
    result.update(base_mib=base, peak_mib=_peak_mib())
    print(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--phase", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=575)
    p.add_argument("--min-patches", type=int, default=200)
    p.add_argument("--max-patches", type=int, default=2000)
    p.add_argument("--width", type=int, default=768)
    p.add_argument("--work", help="working directory (default: a new temporary directory, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the working directory")
    args, rest = p.parse_known_args(argv)
    if args.phase:
        _child(args.phase, rest)
        return 0
    work = Path(args.work or tempfile.mkdtemp(prefix="intersurv-bags-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for name, extra in (("simulate", [str(args.n), str(args.min_patches), str(args.max_patches), str(args.width)]),
                            ("write_h5", []), ("read_h5", []), ("read_bag_dir", [])):
            r = run_phase(name, str(work), *extra)
            rows.append((name, r))
            print(f"{name}: {r['seconds']:.1f} s, peak RSS {r['peak_mib']:.0f} MiB (base {r['base_mib']:.0f}); "
                  f"{r['note']}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"glioma-bags n = {args.n}, {args.min_patches}-{args.max_patches} patches x {args.width}, "
          f"{np.__name__} {np.__version__}\n")
    print("| phase | s | base RSS MiB | peak RSS MiB | |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['seconds']:.1f} | {r['base_mib']:.0f} | {r['peak_mib']:.0f} | {r['note']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
